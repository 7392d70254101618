"""The site's own state, in SQLite (WAL): requests waiting for their e-mail confirmation, and
form posts per client for the rate limit. Everything that grants or records access stays in
the desk and its signed log; nothing here decides who may download."""

from __future__ import annotations

import hashlib
import json
import secrets
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS pending (
    status_id TEXT PRIMARY KEY,      -- in the requester's status page URL
    token_sha256 TEXT UNIQUE,        -- of the token in the confirmation e-mail
    kind TEXT NOT NULL,              -- access | opt_out
    payload TEXT NOT NULL,           -- the form, as JSON
    created_at REAL NOT NULL,
    confirmed_at REAL,
    ref TEXT                         -- what it became: a grant ID, or opt-out request IDs
);
CREATE TABLE IF NOT EXISTS posts (client TEXT NOT NULL, at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS sessions (
    id_sha256 TEXT PRIMARY KEY,      -- of the cookie's value
    who TEXT NOT NULL,
    last_seen REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS posts_by_client ON posts (client, at);
CREATE TABLE IF NOT EXISTS api_tokens (
    token_sha256 TEXT PRIMARY KEY,   -- of the token, which is shown once and kept nowhere
    grant_id TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS passwords (
    email TEXT PRIMARY KEY,          -- a researcher's, as their grant has it
    hash TEXT NOT NULL,              -- argon2
    set_at REAL NOT NULL
);
"""
CONFIRM_WITHIN_S = 48 * 3600


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Pending:
    status_id: str
    kind: str
    payload: dict[str, Any]
    created_at: float
    confirmed_at: float | None
    ref: str | None


class SiteState:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA busy_timeout=5000")
        # Durable at each checkpoint, not each commit: sessions and rate limits are not the
        # record of access (the signed log is), and a commit per page view must not fsync.
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        self._lock = threading.Lock()

    def allow_post(self, client: str, per_hour: int, now: float | None = None) -> bool:
        """Count a form post; False when the client already made `per_hour` in the last hour."""
        now = time.time() if now is None else now
        with self._lock:
            self._db.execute("DELETE FROM posts WHERE at < ?", (now - 3600,))
            (made,) = self._db.execute(
                "SELECT count(*) FROM posts WHERE client = ?", (client,)
            ).fetchone()
            if made >= per_hour:
                return False
            self._db.execute("INSERT INTO posts VALUES (?, ?)", (client, now))
            return True

    def add(self, kind: str, payload: dict[str, Any]) -> tuple[str, str]:
        """A request waiting for its e-mail confirmation: (status ID, confirmation token)."""
        status_id, token = secrets.token_urlsafe(16), secrets.token_urlsafe(32)
        with self._lock:
            self._db.execute(
                "INSERT INTO pending VALUES (?, ?, ?, ?, ?, NULL, NULL)",
                (status_id, digest(token), kind, json.dumps(payload), time.time()),
            )
        return status_id, token

    def _row(self, where: str, value: str) -> Pending | None:
        row = self._db.execute(
            "SELECT status_id, kind, payload, created_at, confirmed_at, ref FROM pending "
            f"WHERE {where} = ?",
            (value,),
        ).fetchone()
        if row is None:
            return None
        return Pending(row[0], row[1], json.loads(row[2]), row[3], row[4], row[5])

    def by_status(self, status_id: str) -> Pending | None:
        return self._row("status_id", status_id)

    def by_token(self, token: str) -> Pending | None:
        return self._row("token_sha256", digest(token))

    def claim(self, token: str) -> Pending | None:
        """Mark a request confirmed, once: the request, or None when the token is unknown,
        expired or was used before (two clicks file one request)."""
        with self._lock:
            row = self._db.execute(
                "UPDATE pending SET confirmed_at = ? WHERE token_sha256 = ? "
                "AND confirmed_at IS NULL AND created_at > ? RETURNING status_id",
                (time.time(), digest(token), time.time() - CONFIRM_WITHIN_S),
            ).fetchone()
        return None if row is None else self.by_status(row[0])

    def unclaim(self, status_id: str) -> None:
        """Give a claim back when filing failed (the link then works again)."""
        with self._lock:
            self._db.execute(
                "UPDATE pending SET confirmed_at = NULL WHERE status_id = ? AND ref IS NULL",
                (status_id,),
            )

    def close_all_sessions(self) -> None:
        with self._lock:
            self._db.execute("DELETE FROM sessions")

    def attach(self, status_id: str, ref: str) -> None:
        with self._lock:
            self._db.execute("UPDATE pending SET ref = ? WHERE status_id = ?", (ref, status_id))

    def waiting_for(self, kind: str, status_id: str) -> Pending | None:
        """One confirmed request of `kind` that is not filed yet, or None."""
        return next((p for p in self.waiting(kind) if p.status_id == status_id), None)

    def waiting(self, kind: str) -> list[Pending]:
        """Confirmed requests of `kind` that are not filed yet (whole-account opt-outs wait for
        the curator), oldest first."""
        rows = self._db.execute(
            "SELECT status_id FROM pending WHERE kind = ? AND confirmed_at IS NOT NULL "
            "AND ref IS NULL ORDER BY created_at",
            (kind,),
        ).fetchall()
        return [p for (status_id,) in rows if (p := self.by_status(status_id)) is not None]

    def open_session(self, who: str) -> str:
        """A new session (always new: a login never adopts an ID the browser brought)."""
        session = secrets.token_urlsafe(32)
        with self._lock:
            self._db.execute(
                "INSERT INTO sessions VALUES (?, ?, ?)", (digest(session), who, time.time())
            )
        return session

    def session(self, session: str | None, idle_s: float) -> str | None:
        """Who holds this live session (and it is touched), or None."""
        if not session:
            return None
        now = time.time()
        with self._lock:
            self._db.execute("DELETE FROM sessions WHERE last_seen < ?", (now - idle_s,))
            row = self._db.execute(
                "UPDATE sessions SET last_seen = ? WHERE id_sha256 = ? RETURNING who",
                (now, digest(session)),
            ).fetchone()
        return None if row is None else str(row[0])

    def close_session(self, session: str | None) -> None:
        if session:
            with self._lock:
                self._db.execute("DELETE FROM sessions WHERE id_sha256 = ?", (digest(session),))

    def new_api_token(self, grant_id: str) -> str:
        """A token for scripts (`Authorization: Bearer …`), for this grant; shown once."""
        token = "mv_" + secrets.token_urlsafe(32)
        with self._lock:
            self._db.execute(
                "INSERT INTO api_tokens VALUES (?, ?, ?)", (digest(token), grant_id, time.time())
            )
        return token

    def api_grant(self, token: str | None) -> str | None:
        """The grant an API token was made for, or None."""
        if not token:
            return None
        row = self._db.execute(
            "SELECT grant_id FROM api_tokens WHERE token_sha256 = ?", (digest(token),)
        ).fetchone()
        return None if row is None else str(row[0])

    def api_tokens(self, grant_id: str) -> list[float]:
        """When each of a grant's API tokens was made."""
        rows = self._db.execute(
            "SELECT created_at FROM api_tokens WHERE grant_id = ? ORDER BY created_at",
            (grant_id,),
        ).fetchall()
        return [float(r[0]) for r in rows]

    def drop_api_tokens(self, grant_id: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM api_tokens WHERE grant_id = ?", (grant_id,))

    def set_password(self, email: str, password_hash: str) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO passwords VALUES (?, ?, ?)",
                (email, password_hash, time.time()),
            )

    def password_hash(self, email: str) -> str | None:
        row = self._db.execute("SELECT hash FROM passwords WHERE email = ?", (email,)).fetchone()
        return None if row is None else str(row[0])
