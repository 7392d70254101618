"""The site's own state: requests waiting for their e-mail confirmation, form posts per client
for the rate limit, sessions, API tokens and researchers' passwords. In SQLite (WAL) by default,
or on Postgres (a postgresql:// URL) for a site served by several processes or machines: the
same schema and statements on both. Everything that grants or records access stays in the desk
and its signed log; nothing here decides who may download."""

from __future__ import annotations

import hashlib
import json
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

# DOUBLE PRECISION, not REAL: Postgres' REAL has 24 bits, a minute's resolution for time.time().
SCHEMA = """
CREATE TABLE IF NOT EXISTS pending (
    status_id TEXT PRIMARY KEY,      -- in the requester's status page URL
    token_sha256 TEXT UNIQUE,        -- of the token in the confirmation e-mail
    kind TEXT NOT NULL,              -- access | opt_out
    payload TEXT NOT NULL,           -- the form, as JSON
    created_at DOUBLE PRECISION NOT NULL,
    confirmed_at DOUBLE PRECISION,
    ref TEXT                         -- what it became: a grant ID, or opt-out request IDs
);
CREATE TABLE IF NOT EXISTS posts (client TEXT NOT NULL, at DOUBLE PRECISION NOT NULL);
CREATE TABLE IF NOT EXISTS sessions (
    id_sha256 TEXT PRIMARY KEY,      -- of the cookie's value
    who TEXT NOT NULL,
    last_seen DOUBLE PRECISION NOT NULL
);
CREATE INDEX IF NOT EXISTS posts_by_client ON posts (client, at);
CREATE TABLE IF NOT EXISTS api_tokens (
    token_sha256 TEXT PRIMARY KEY,   -- of the token, which is shown once and kept nowhere
    grant_id TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL
);
CREATE TABLE IF NOT EXISTS passwords (
    email TEXT PRIMARY KEY,          -- a researcher's, as their grant has it
    hash TEXT NOT NULL,              -- argon2
    set_at DOUBLE PRECISION NOT NULL
);
"""
CONFIRM_WITHIN_S = 48 * 3600
POSTGRES_SCHEMES = ("postgresql://", "postgres://")
CONNECT_TIMEOUT_S = 10  # unless the URL says: an unreachable server is an error, not a hang

Rows = list[tuple[Any, ...]]
Run = Callable[..., Rows]  # (sql, params=()) -> the rows it returned


class SiteStateError(RuntimeError):
    """The site's state cannot be reached (its Postgres server); one line, no password."""


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
    """On SQLite, one connection that the threads share under a lock; on Postgres, one
    connection per thread (autocommit). Statements are written with `?` placeholders."""

    def __init__(self, where: Path | str) -> None:
        self._lock = threading.Lock()
        self._url = str(where) if str(where).startswith(POSTGRES_SCHEMES) else None
        if self._url is None:
            self._db = _open_sqlite(Path(where))
            return
        self._local = threading.local()
        self._connections: list[psycopg.Connection[Any]] = []
        # Several processes may start at once: CREATE TABLE IF NOT EXISTS is not safe in
        # parallel on Postgres (both pass the check, one fails), so it runs under a lock.
        with self._transaction("massiv site_state schema") as run:
            run(SCHEMA, None)

    def close(self) -> None:
        if self._url is None:
            self._db.close()
            return
        with self._lock:
            for db in self._connections:
                db.close()
            self._connections.clear()

    def _postgres(self) -> psycopg.Connection[Any]:
        """This thread's connection (a new one when there is none, or it broke)."""
        db: psycopg.Connection[Any] | None = getattr(self._local, "db", None)
        if db is None or db.closed:
            db = _connect_postgres(str(self._url))
            self._local.db = db
            with self._lock:
                self._connections.append(db)
        return db

    @contextmanager
    def _statements(self) -> Iterator[Run]:
        """A function that runs one statement and gives its rows, for the length of the block
        (which, on SQLite, holds the connection's lock)."""
        if self._url is None:
            with self._lock:
                yield lambda sql, params=(): self._db.execute(sql, params).fetchall()
            return
        db = self._postgres()

        def run(sql: str, params: Sequence[Any] | None = ()) -> Rows:
            # Our statements hold no literal ? or %, so this is the only difference.
            cursor = db.execute(sql.replace("?", "%s") if params else sql, params or None)
            return cursor.fetchall() if cursor.description else []

        yield run

    @contextmanager
    def _transaction(self, key: str) -> Iterator[Run]:
        """Statements that read and write as one, against other processes too: SQLite takes
        its write lock at BEGIN IMMEDIATE; Postgres a lock on `key` until the commit (other
        keys go on in parallel)."""
        with self._statements() as run:
            if self._url is None:
                run("BEGIN IMMEDIATE")
                try:
                    yield run
                except BaseException:
                    run("ROLLBACK")
                    raise
                run("COMMIT")
                return
            with self._postgres().transaction():
                run("SELECT pg_advisory_xact_lock(hashtext(?))", (key,))
                yield run

    def _one(self, sql: str, params: Sequence[Any]) -> tuple[Any, ...] | None:
        with self._statements() as run:
            rows = run(sql, params)
        return rows[0] if rows else None

    def _do(self, sql: str, params: Sequence[Any]) -> None:
        with self._statements() as run:
            run(sql, params)

    def allow_post(self, client: str, per_hour: int, now: float | None = None) -> bool:
        """Count a form post; False when the client already made `per_hour` in the last hour."""
        now = time.time() if now is None else now
        # The count reads the last hour only, so this clean-up needs no lock: clients whose
        # posts it deletes do not wait on each other.
        self._do("DELETE FROM posts WHERE at < ?", (now - 3600,))
        with self._transaction(f"posts {client}") as run:
            ((made,),) = run(
                "SELECT count(*) FROM posts WHERE client = ? AND at >= ?", (client, now - 3600)
            )
            if made >= per_hour:
                return False
            run("INSERT INTO posts VALUES (?, ?)", (client, now))
            return True

    def add(self, kind: str, payload: dict[str, Any]) -> tuple[str, str]:
        """A request waiting for its e-mail confirmation: (status ID, confirmation token)."""
        status_id, token = secrets.token_urlsafe(16), secrets.token_urlsafe(32)
        self._do(
            "INSERT INTO pending VALUES (?, ?, ?, ?, ?, NULL, NULL)",
            (status_id, digest(token), kind, json.dumps(payload), time.time()),
        )
        return status_id, token

    def _row(self, where: str, value: str) -> Pending | None:
        row = self._one(
            "SELECT status_id, kind, payload, created_at, confirmed_at, ref FROM pending "
            f"WHERE {where} = ?",
            (value,),
        )
        if row is None:
            return None
        return Pending(row[0], row[1], json.loads(row[2]), row[3], row[4], row[5])

    def by_status(self, status_id: str) -> Pending | None:
        return self._row("status_id", status_id)

    def by_token(self, token: str) -> Pending | None:
        return self._row("token_sha256", digest(token))

    def claim(self, token: str) -> Pending | None:
        """Mark a request confirmed, once: the request, or None when the token is unknown,
        expired or was used before (two clicks file one request). One statement, so two
        processes cannot both claim it."""
        row = self._one(
            "UPDATE pending SET confirmed_at = ? WHERE token_sha256 = ? "
            "AND confirmed_at IS NULL AND created_at > ? RETURNING status_id",
            (time.time(), digest(token), time.time() - CONFIRM_WITHIN_S),
        )
        return None if row is None else self.by_status(row[0])

    def unclaim(self, status_id: str) -> None:
        """Give a claim back when filing failed (the link then works again)."""
        self._do(
            "UPDATE pending SET confirmed_at = NULL WHERE status_id = ? AND ref IS NULL",
            (status_id,),
        )

    def close_all_sessions(self) -> None:
        self._do("DELETE FROM sessions", ())

    def attach(self, status_id: str, ref: str) -> None:
        self._do("UPDATE pending SET ref = ? WHERE status_id = ?", (ref, status_id))

    def waiting_for(self, kind: str, status_id: str) -> Pending | None:
        """One confirmed request of `kind` that is not filed yet, or None."""
        return next((p for p in self.waiting(kind) if p.status_id == status_id), None)

    def waiting(self, kind: str) -> list[Pending]:
        """Confirmed requests of `kind` that are not filed yet (whole-account opt-outs wait for
        the curator), oldest first."""
        with self._statements() as run:
            rows = run(
                "SELECT status_id FROM pending WHERE kind = ? AND confirmed_at IS NOT NULL "
                "AND ref IS NULL ORDER BY created_at",
                (kind,),
            )
        return [p for (status_id,) in rows if (p := self.by_status(status_id)) is not None]

    def open_session(self, who: str) -> str:
        """A new session (always new: a login never adopts an ID the browser brought)."""
        session = secrets.token_urlsafe(32)
        self._do("INSERT INTO sessions VALUES (?, ?, ?)", (digest(session), who, time.time()))
        return session

    def session(self, session: str | None, idle_s: float) -> str | None:
        """Who holds this live session (and it is touched), or None."""
        if not session:
            return None
        now = time.time()
        with self._statements() as run:
            run("DELETE FROM sessions WHERE last_seen < ?", (now - idle_s,))
            rows = run(
                "UPDATE sessions SET last_seen = ? WHERE id_sha256 = ? RETURNING who",
                (now, digest(session)),
            )
        return str(rows[0][0]) if rows else None

    def close_session(self, session: str | None) -> None:
        if session:
            self._do("DELETE FROM sessions WHERE id_sha256 = ?", (digest(session),))

    def new_api_token(self, grant_id: str) -> str:
        """A token for scripts (`Authorization: Bearer …`), for this grant; shown once."""
        token = "mv_" + secrets.token_urlsafe(32)
        self._do("INSERT INTO api_tokens VALUES (?, ?, ?)", (digest(token), grant_id, time.time()))
        return token

    def api_grant(self, token: str | None) -> str | None:
        """The grant an API token was made for, or None."""
        if not token:
            return None
        row = self._one("SELECT grant_id FROM api_tokens WHERE token_sha256 = ?", (digest(token),))
        return None if row is None else str(row[0])

    def api_tokens(self, grant_id: str) -> list[float]:
        """When each of a grant's API tokens was made."""
        with self._statements() as run:
            rows = run(
                "SELECT created_at FROM api_tokens WHERE grant_id = ? ORDER BY created_at",
                (grant_id,),
            )
        return [float(r[0]) for r in rows]

    def drop_api_tokens(self, grant_id: str) -> None:
        self._do("DELETE FROM api_tokens WHERE grant_id = ?", (grant_id,))

    def set_password(self, email: str, password_hash: str) -> None:
        self._do(
            "INSERT INTO passwords VALUES (?, ?, ?) ON CONFLICT (email) DO UPDATE "
            "SET hash = excluded.hash, set_at = excluded.set_at",
            (email, password_hash, time.time()),
        )

    def password_hash(self, email: str) -> str | None:
        row = self._one("SELECT hash FROM passwords WHERE email = ?", (email,))
        return None if row is None else str(row[0])


def _open_sqlite(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    db.execute("PRAGMA busy_timeout=5000")  # first: processes starting together wait their turn
    db.execute("PRAGMA journal_mode=WAL")
    # Durable at each checkpoint, not each commit: sessions and rate limits are not the
    # record of access (the signed log is), and a commit per page view must not fsync.
    db.execute("PRAGMA synchronous=NORMAL")
    db.executescript(SCHEMA)
    return db


def _connect_postgres(url: str) -> psycopg.Connection[Any]:
    params = conninfo_to_dict(url)
    if "connect_timeout" not in params:
        url = make_conninfo(url, connect_timeout=CONNECT_TIMEOUT_S)
    try:
        return psycopg.connect(url, autocommit=True)
    except psycopg.OperationalError as exc:
        where = f"{params.get('host', 'localhost')}:{params.get('port', 5432)}"
        reason = " ".join(str(exc).split())
        raise SiteStateError(
            f"the site's state on Postgres ({where}/{params.get('dbname', '')}) cannot be "
            f"reached: {reason}"
        ) from None
