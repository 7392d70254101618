"""Access to a release: researchers request it, the curator approves, rejects or revokes, and an
approved grant gets download URLs for the files of the current, non-withdrawn version.

On S3 the URLs are presigned SigV4 GETs of the version's objects; with the local store they are
signed tokens (`massiv access fetch` redeems them). Expiry is capped here, whatever is asked:
1 hour by default, never above 7 days. Every request, decision, issuance, denial and download is
written to the access log (privacy/access_log.py), with a hash of each URL, never the URL. A
denial says why: no such grant, not approved, rejected, revoked, expired, nothing published, or
the version withdrawn.
"""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import hmac
import json
import os
import re
import secrets
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

from privacy.access_log import AccessLog, Position, hash_url
from storage.local import newest_live, unchecked_batch

DEFAULT_EXPIRY_S = 3600
MAX_EXPIRY_S = 7 * 24 * 3600
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# What a form may give as an address: one mailbox, nothing a mail library would read as a
# display name, a group or a second recipient (`a@x.example,b`, `<a@x>.uni.edu`).
FORM_EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+$")
TOKEN_SCHEME = "massiv"
DECISIONS = {
    "access_approved": "approved",
    "access_rejected": "rejected",
    "access_revoked": "revoked",
}


class AccessDenied(PermissionError):
    """A request for files that policy refuses; the message says why."""


class AccessRequestError(ValueError):
    """An access request or decision that is malformed (names the field)."""


@dataclass
class Grant:
    id: str
    name: str
    institution: str
    email: str
    purpose: str
    requested_at: str
    status: str = "requested"  # requested | approved | rejected | revoked
    decided_at: str | None = None
    decided_by: str | None = None
    expires_at: str | None = None  # the grant's own end (approved grants)
    note: str | None = None


def _now(now: datetime | None) -> datetime:
    return (now or datetime.now(UTC)).astimezone(UTC)


def _iso(t: datetime) -> str:
    return t.isoformat(timespec="seconds")


def check_request(
    name: str, institution: str, email: str, purpose: str, accepted_terms: bool
) -> None:
    """Raise AccessRequestError naming the first field that is wrong."""
    fields = {"name": name, "institution": institution, "purpose": purpose}
    for field, value in fields.items():
        if not value.strip():
            raise AccessRequestError(f"access request: {field} is empty")
        if len(value) > 2_000:
            raise AccessRequestError(f"access request: {field} is longer than 2,000 characters")
    if not FORM_EMAIL.fullmatch(email) or len(email) > 254:
        raise AccessRequestError("access request: email is not an e-mail address")
    if not accepted_terms:
        raise AccessRequestError(
            "access request: the research-only terms must be accepted (accepted_terms)"
        )


def cap_expiry(seconds: int | None) -> int:
    """The URL lifetime actually granted: default 1 h, at least 1 s, at most 7 days."""
    return max(1, min(seconds or DEFAULT_EXPIRY_S, MAX_EXPIRY_S))


class AccessDesk:
    def __init__(
        self,
        folder: Path,
        log: AccessLog,
        store: Any,
        dataset: str,
        token_secret: bytes | None = None,
        default_expiry_s: int = DEFAULT_EXPIRY_S,
    ) -> None:
        self.default_expiry_s = default_expiry_s
        self.folder = folder
        self.log = log
        self.store = store
        self.dataset = dataset
        self.token_secret = token_secret
        self._position = Position()  # how far logged_states has read the log
        self._logged: dict[str, dict[str, Any]] = {}
        self._replay_lock = threading.Lock()
        self._stored_cache: tuple[tuple[int, int, int], dict[str, dict[str, Any]]] | None = None

    # state ---------------------------------------------------------------------------------

    @property
    def grants_path(self) -> Path:
        return self.folder / "grants.json"

    @contextmanager
    def _grants_lock(self, shared: bool = False) -> Iterator[None]:
        """Exclusive for decisions and issuances; shared for the media gateway's many
        concurrent checks, each held until its access is logged (a revocation waits for them,
        so it lands wholly before or after each one). A decision first closes the gate, so new
        checks wait behind it: viewers who never pause cannot starve a revocation."""
        with self._lock_files() as (gate, lock):
            if shared:
                fcntl.flock(gate, fcntl.LOCK_SH)
                fcntl.flock(lock, fcntl.LOCK_SH)
                fcntl.flock(gate, fcntl.LOCK_UN)
            else:
                fcntl.flock(gate, fcntl.LOCK_EX)
                fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    @contextmanager
    def _lock_files(self) -> Iterator[tuple[int, int]]:
        self.folder.mkdir(parents=True, exist_ok=True)
        with (
            (self.folder / ".grants.gate").open("a") as gate,
            (self.folder / ".grants.lock").open("a") as lock,
        ):
            yield gate.fileno(), lock.fileno()  # closing them releases the locks

    @contextmanager
    def live_grant(self, grant_id: str, now: datetime | None = None) -> Iterator[Grant]:
        """The grant, if approved and not expired (else AccessDenied, logged), held so that
        no decision lands before the caller has logged what it did with it."""
        with self._grants_lock(shared=True):
            yield self._check(grant_id, _now(now))

    @asynccontextmanager
    async def live_grant_async(self, grant_id: str) -> AsyncIterator[Grant]:
        """`live_grant` on an event loop, which it never blocks: a decision waits for the holds
        of the loop's own requests, so a loop blocked on the gate would never release them."""
        with self._lock_files() as (gate, lock):
            await _flock_politely(gate, fcntl.LOCK_SH)
            await _flock_politely(lock, fcntl.LOCK_SH)
            fcntl.flock(gate, fcntl.LOCK_UN)
            yield self._check(grant_id, _now(None))

    @contextmanager
    def _grants(self) -> Iterator[dict[str, Grant]]:
        """The grants, locked for update and written back atomically."""
        with self._grants_lock():
            grants = self.grants()
            yield grants
            tmp = self.grants_path.with_name(f".grants.{uuid.uuid4().hex[:8]}.tmp")
            tmp.write_text(
                json.dumps({k: asdict(g) for k, g in sorted(grants.items())}, indent=2) + "\n"
            )
            os.replace(tmp, self.grants_path)

    def stored_grants(self) -> dict[str, Grant]:
        """grants.json as it is: contacts and purposes, and a copy of each grant's state."""
        return {k: Grant(**v) for k, v in self._stored().items()}

    def _stored(self) -> dict[str, dict[str, Any]]:
        """grants.json parsed, read again only when the file was replaced or changed (the
        gateway checks a grant per request)."""
        try:
            st = os.stat(self.grants_path)
        except FileNotFoundError:
            return {}
        stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
        if self._stored_cache is None or self._stored_cache[0] != stamp:
            self._stored_cache = (stamp, json.loads(self.grants_path.read_text()))
        return self._stored_cache[1]

    def logged_states(self) -> dict[str, dict[str, Any]]:
        """Each grant's state (LOGGED fields) as the signed log tells it; only what was
        appended since the last call is read. Raises LogTamperedError if the log was altered."""
        with self._replay_lock:
            self._replay()
            return {k: dict(v) for k, v in self._logged.items()}

    def _replay(self) -> None:
        """Bring `_logged` up to the log's end (under `_replay_lock`)."""
        entries, self._position = self.log.read_since(self._position)
        for entry in entries:
            event, details = entry["event"], entry["details"]
            if event == "access_requested":
                self._logged[details["grant"]] = {
                    "status": "requested",
                    "requested_at": entry["at"],
                    "decided_at": None,
                    "decided_by": None,
                    "expires_at": None,
                    "note": None,
                }
            elif event in DECISIONS and details.get("grant") in self._logged:
                self._logged[details["grant"]].update(
                    status=DECISIONS[event],
                    decided_at=entry["at"],
                    decided_by=entry["actor"],
                    expires_at=details.get("expires_at"),
                    note=details.get("note"),
                )

    def grant(self, grant_id: str) -> Grant | None:
        """One grant, as `grants()` has it, without building the others."""
        with self._replay_lock:
            self._replay()
            state = self._logged.get(grant_id)
            state = None if state is None else dict(state)
        if state is None:
            return None
        stored = self._stored().get(grant_id)
        base = (
            Grant(**stored)
            if stored
            else Grant(grant_id, "?", "?", "?", "?", state["requested_at"])
        )
        return replace(base, **state)

    def approved_grant_of(self, email: str) -> Grant | None:
        """The newest approved grant of this address, if any (a researcher's sign-in)."""
        approved = [
            g for g in self.grants().values() if g.email == email and g.status == "approved"
        ]
        return approved[-1] if approved else None

    def grants(self) -> dict[str, Grant]:
        """Every grant the log records, its state from the log (editing grants.json changes
        no decision); the contact fields from grants.json."""
        stored = self.stored_grants()
        grants = {}
        for grant_id, state in self.logged_states().items():
            base = stored.get(grant_id) or Grant(
                grant_id, "?", "?", "?", "?", state["requested_at"]
            )
            grants[grant_id] = replace(base, **state)
        return grants

    def disagreements(self) -> list[str]:
        """Where grants.json and the signed log disagree (for `access verify`)."""
        stored, logged = self.stored_grants(), self.logged_states()
        problems = []
        for grant_id in sorted(set(stored) | set(logged)):
            if grant_id not in logged:
                problems.append(f"{grant_id} is in grants.json, but the log never recorded it")
                continue
            if grant_id not in stored:
                problems.append(f"{grant_id} is in the log, but missing from grants.json")
                continue
            for name, value in logged[grant_id].items():
                if getattr(stored[grant_id], name) != value:
                    problems.append(
                        f"{grant_id}: grants.json says {name} = {getattr(stored[grant_id], name)!r}"
                        f", the signed log {value!r} (the log decides)"
                    )
        return problems

    # requests and decisions ----------------------------------------------------------------

    def request(
        self,
        name: str,
        institution: str,
        email: str,
        purpose: str,
        accepted_terms: bool,
        now: datetime | None = None,
    ) -> Grant:
        check_request(name, institution, email, purpose, accepted_terms)
        grant = Grant(
            id=f"g-{uuid.uuid4().hex[:12]}",
            name=name.strip(),
            institution=institution.strip(),
            email=email.strip(),
            purpose=purpose.strip(),
            requested_at=_iso(_now(now)),
        )
        with self._grants() as grants:
            # Logged before the grant is stored (here and for every decision): a crash can leave
            # an entry whose change never landed, never a change without its entry.
            self.log.append("access_requested", grant.email, {"grant": grant.id}, _now(now))
            grants[grant.id] = grant
        return grant

    def _decide(
        self,
        grant_id: str,
        curator: str,
        status: str,
        note: str | None,
        now: datetime | None,
        days: int | None = None,
    ) -> Grant:
        allowed = {"approved": {"requested"}, "rejected": {"requested"}, "revoked": {"approved"}}[
            status
        ]
        with self._grants() as grants:
            grant = grants.get(grant_id)
            if grant is None:
                raise AccessRequestError(f"no access request {grant_id}")
            if grant.status not in allowed:
                raise AccessRequestError(f"{grant_id} is {grant.status}; it cannot be {status}")
            t = _now(now)
            grant.status, grant.decided_at, grant.decided_by, grant.note = (
                status,
                _iso(t),
                curator,
                note,
            )
            if days is not None:
                grant.expires_at = _iso(t + timedelta(days=days))
            event = {
                "approved": "access_approved",
                "rejected": "access_rejected",
                "revoked": "access_revoked",
            }[status]
            self.log.append(
                event, curator, {"grant": grant_id, "note": note, "expires_at": grant.expires_at}, t
            )
        return grant

    def approve(
        self, grant_id: str, curator: str, days: int = 365, now: datetime | None = None
    ) -> Grant:
        return self._decide(grant_id, curator, "approved", None, now, days)

    def reject(self, grant_id: str, curator: str, note: str, now: datetime | None = None) -> Grant:
        return self._decide(grant_id, curator, "rejected", note, now)

    def revoke(self, grant_id: str, curator: str, note: str, now: datetime | None = None) -> Grant:
        return self._decide(grant_id, curator, "revoked", note, now)

    # URLs ----------------------------------------------------------------------------------

    def current_version(
        self, published: list[str] | None = None, withdrawn: dict[str, Any] | None = None
    ) -> str:
        """The newest version that is not withdrawn."""
        withdrawn = self.store.withdrawn(self.dataset) if withdrawn is None else withdrawn
        published = self.store.versions(self.dataset) if published is None else published
        current = newest_live(published, withdrawn)
        if current is None:
            raise AccessDenied(
                f"no version of {self.dataset} is available (none published, or all withdrawn)"
            )
        return current

    def _check(self, grant_id: str, now: datetime) -> Grant:
        grant = self.grant(grant_id)
        reason = None
        if grant is None:
            reason = f"no access grant {grant_id}"
        elif grant.status == "revoked":
            reason = f"grant {grant_id} was revoked ({grant.note})"
        elif grant.status == "rejected":
            reason = f"access request {grant_id} was rejected ({grant.note})"
        elif grant.status != "approved":
            reason = f"access request {grant_id} is not approved yet"
        elif grant.expires_at and datetime.fromisoformat(grant.expires_at) <= now:
            reason = f"grant {grant_id} expired on {grant.expires_at}"
        if reason:
            self.log.append("access_denied", grant_id, {"reason": reason}, now)
            raise AccessDenied(reason)
        assert grant is not None
        return grant

    def issue(
        self,
        grant_id: str,
        version: str | None = None,
        expires_in: int | None = None,
        now: datetime | None = None,
    ) -> dict[str, str]:
        """{file path: URL} for every file of `version` (default: the current one).

        Holds the grants lock from the check to the log entry, so a revocation lands wholly
        before or after an issuance, never between."""
        t = _now(now)
        with self._grants_lock():
            return self._issue(grant_id, version, expires_in, t)

    def _issue(
        self, grant_id: str, version: str | None, expires_in: int | None, t: datetime
    ) -> dict[str, str]:
        grant = self._check(grant_id, t)
        withdrawn = self.store.withdrawn(self.dataset)
        published = self.store.versions(self.dataset)
        current = newest_live(published, withdrawn)
        version = version or current
        reason = None
        if version in withdrawn:
            reason = f"{self.dataset} {version} was withdrawn ({withdrawn[version]['reason']})"
            reason += f"; use {current}" if current else ""
        elif current is None:
            reason = f"no version of {self.dataset} is available (none published, or all withdrawn)"
        elif version not in published:
            reason = f"{self.dataset} {version} is not published"
        elif version != current:
            reason = (
                f"{self.dataset} {version} is superseded: URLs are issued for the current "
                f"version only ({current})"
            )
        elif (batch := unchecked_batch(self.store, self.dataset, version)) is not None:
            reason = self.unchecked_reason(version, batch)
        elif not hasattr(self.store, "client") and self.token_secret is None:
            reason = "local downloads need the token secret"
        if reason:
            self.log.append("access_denied", grant_id, {"reason": reason}, t)
            raise AccessDenied(reason)
        assert version is not None
        seconds = cap_expiry(expires_in or self.default_expiry_s)
        if grant.expires_at:  # a URL never outlives its grant (presigned URLs cannot be recalled)
            left = int((datetime.fromisoformat(grant.expires_at) - t).total_seconds())
            seconds = max(1, min(seconds, left))
        urls = self._urls(grant_id, version, seconds, t)
        self.log.append(
            "urls_issued",
            grant_id,
            {
                "version": version,
                "files": len(urls),
                "expires_in_s": seconds,
                "url_sha256": sorted(hash_url(u) for u in urls.values()),
            },
            t,
        )
        return urls

    def unchecked_reason(self, version: str, batch: int) -> str:
        return (
            f"{self.dataset} {version} is not yet checked against opt-out batch {batch} (an "
            "opt-out run is under way or was interrupted): nothing is served until it is"
        )

    def _urls(self, grant_id: str, version: str, seconds: int, now: datetime) -> dict[str, str]:
        files = self.store.read_manifest(self.dataset, version)["files"]
        if hasattr(self.store, "client"):  # S3: presigned SigV4 GETs
            return {
                f["path"]: self.store.client.generate_presigned_url(
                    "get_object",
                    Params={
                        "Bucket": self.store.bucket,
                        "Key": self.store.object_key(self.dataset, f["sha256"]),
                    },
                    ExpiresIn=seconds,
                )
                for f in files
            }
        expires = int(now.timestamp()) + seconds
        return {f["path"]: self._token(grant_id, version, f["path"], expires) for f in files}

    def _token(self, grant_id: str, version: str, path: str, expires: int) -> str:
        if self.token_secret is None:
            raise AccessDenied("local downloads need the token secret")
        query = {
            "grant": grant_id,
            "dataset": self.dataset,
            "version": version,
            "path": path,
            "expires": str(expires),
        }
        sig = hmac.new(
            self.token_secret, urlencode(sorted(query.items())).encode(), hashlib.sha256
        ).hexdigest()
        return f"{TOKEN_SCHEME}://download?{urlencode({**query, 'sig': sig})}"

    def fetch(self, token: str, dest: Path, now: datetime | None = None) -> Path:
        """Redeem a local download token: the file, copied to `dest` (logged).

        Holds the grants lock from the grant check to the log entry, as `issue` does, so a
        revocation lands wholly before or after a download, never between."""
        t = _now(now)
        with self._grants_lock():
            source, details = self._admit_download(token, t)
        # The copy itself runs outside the lock: the entry is in, so a revocation from now on
        # is logged after this download, which is what happened.
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(source.read_bytes())
        except OSError as exc:
            self.log.append("download_failed", details["grant"], {**details, "error": str(exc)}, t)
            raise
        return dest

    def _admit_download(self, token: str, t: datetime) -> tuple[Path, dict[str, str]]:
        """Check a token and its grant; log the download (before any byte leaves: "who holds
        which version" may over-count, never miss) or the denial."""
        parsed = urlparse(token)
        query = {k: v[0] for k, v in parse_qs(parsed.query).items()}
        sig = query.pop("sig", "")
        expected = (
            hmac.new(
                self.token_secret, urlencode(sorted(query.items())).encode(), hashlib.sha256
            ).hexdigest()
            if self.token_secret is not None
            else ""
        )
        reason = None
        if self.token_secret is None:
            reason = "this desk has no token secret: it cannot check download tokens"
        elif parsed.scheme != TOKEN_SCHEME or not hmac.compare_digest(sig, expected):
            reason = "the download token is not valid (altered or not ours)"
        elif query.get("dataset") != self.dataset:
            reason = f"the download token is for another dataset ({query.get('dataset')})"
        elif int(query.get("expires", "0")) <= int(t.timestamp()):
            reason = "the download token has expired"
        elif query["version"] in self.store.withdrawn(self.dataset):
            reason = f"{self.dataset} {query['version']} was withdrawn"
        elif (batch := unchecked_batch(self.store, self.dataset, query["version"])) is not None:
            reason = self.unchecked_reason(query["version"], batch)
        if reason is None:
            try:
                self._check(query["grant"], t)
            except AccessDenied as exc:
                reason = str(exc)
        if reason:
            self.log.append(
                "download_denied",
                query.get("grant", "?"),
                {"reason": reason, "url_sha256": hash_url(token)},
                t,
            )
            raise AccessDenied(reason)
        source = self.store.version_dir(self.dataset, query["version"]) / query["path"]
        details = {
            "version": query["version"],
            "path": query["path"],
            "url_sha256": hash_url(token),
        }
        self.log.append("download", query["grant"], details, t)
        return source, {**details, "grant": query["grant"]}

    def admit(self, token: str, now: datetime | None = None) -> Path:
        """Check a local download token and log the download; the file to send (the site
        streams it; `fetch` copies it)."""
        with self._grants_lock():
            source, _ = self._admit_download(token, _now(now))
        return source

    def token_grant(self, token: str) -> str | None:
        """The grant a download token names (unchecked: `admit` checks it)."""
        return parse_qs(urlparse(token).query).get("grant", [None])[0]

    def confirm_deletion(self, grant_id: str, version: str, now: datetime | None = None) -> None:
        """The holder's word, in the signed log, that they deleted a withdrawn version."""
        if version not in self.store.withdrawn(self.dataset):
            raise AccessRequestError(f"{self.dataset} {version} is not withdrawn")
        self.log.append("deletion_confirmed", grant_id, {"version": version}, _now(now))

    def record_notice(self, grant_id: str, version: str, now: datetime | None = None) -> None:
        """That the holder of a withdrawn version was sent its withdrawal notice."""
        if version not in self.store.withdrawn(self.dataset):
            raise AccessRequestError(f"{self.dataset} {version} is not withdrawn")
        self.log.append("withdrawal_notice_sent", grant_id, {"version": version}, _now(now))

    def notices(self, grant_id: str) -> list[dict[str, Any]]:
        """Withdrawn versions this grant was issued, with the reason and whether the holder
        confirmed deleting them."""
        withdrawn = self.store.withdrawn(self.dataset)
        current = newest_live(self.store.versions(self.dataset), withdrawn)
        issued, confirmed = set(), set()
        for entry in self.log.entries():
            if entry["actor"] != grant_id:
                continue
            if entry["event"] in ("urls_issued", "download"):
                issued.add(entry["details"]["version"])
            elif entry["event"] == "deletion_confirmed":
                confirmed.add(entry["details"]["version"])
        return [
            {
                "version": v,
                "reason": withdrawn[v].get("reason"),
                "current": current,
                "confirmed": v in confirmed,
            }
            for v in sorted(issued & set(withdrawn))
        ]

    def report(self, deletions: bool = False) -> list[dict[str, Any]]:
        """Who was issued which version's files (for opt-out notices): one row per grant and
        version, with the grant's contact and the last issuance; with `deletions`, whether the
        holder of a withdrawn version confirmed deleting it and when its notice was last sent
        (this reads the store)."""
        grants = self.grants()
        withdrawn = self.store.withdrawn(self.dataset) if deletions else {}
        rows: dict[tuple[str, str], dict[str, Any]] = {}
        deleted: set[tuple[str, str]] = set()
        notified: dict[tuple[str, str], str] = {}
        for entry in self.log.entries():
            if entry["event"] == "deletion_confirmed":
                deleted.add((entry["actor"], entry["details"]["version"]))
            if entry["event"] == "withdrawal_notice_sent":
                notified[(entry["actor"], entry["details"]["version"])] = entry["at"]
            if entry["event"] != "urls_issued":
                continue
            grant = grants.get(entry["actor"])
            key = (entry["actor"], entry["details"]["version"])
            row = rows.setdefault(
                key,
                {
                    "grant": entry["actor"],
                    "name": grant.name if grant else None,
                    "email": grant.email if grant else None,
                    "version": entry["details"]["version"],
                    "issuances": 0,
                },
            )
            row["issuances"] += 1
            row["last_issued"] = entry["at"]
        for (grant_id, version), row in rows.items() if deletions else ():
            # A withdrawn version's holder owes a deletion confirmation: None while not owed.
            row["deleted"] = (grant_id, version) in deleted if version in withdrawn else None
            row["notified"] = notified.get((grant_id, version))
            row["reason"] = withdrawn.get(version, {}).get("reason")
        return sorted(rows.values(), key=lambda r: (r["version"], r["grant"]))


def owed_notices(holders: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Of `report(deletions=True)`: holders of a withdrawn version who neither confirmed
    deleting it nor were sent its notice yet."""
    return [h for h in holders if h["deleted"] is False and not h["notified"] and h["email"]]


async def _flock_politely(fd: int, mode: int) -> None:
    while True:
        try:
            fcntl.flock(fd, mode | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            await asyncio.sleep(0.002)


def create_token_secret(path: Path) -> bytes:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32) + "\n")
    return bytes.fromhex(path.read_text().strip())
