"""The access log: append-only, hash-chained, with Ed25519-signed checkpoints.

Every entry is one JSON line: seq (1, 2, …), at, event, actor, details, prev (the previous
entry's hash) and hash = sha256 of the entry's canonical JSON without `hash`. Editing, deleting,
reordering or inserting an entry breaks the chain. Every `checkpoint_every` entries a
checkpoint entry carries an Ed25519 signature over (seq, hash of the entry before it), and after
every append `<log>.head` holds the signed (seq, hash) of the newest entry, so a log cut short
no longer matches its head. The signing key is kept apart from the store (a file the curator
holds); verifying needs only the public key, kept beside the log.

The log holds no URL signature and no token: callers log a hash of a URL instead.
Appends take an exclusive lock on the log file, so concurrent writers keep one chain.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

if TYPE_CHECKING:
    from privacy.anchors import HeadAnchors

GENESIS = "0" * 64
logger = logging.getLogger(__name__)


class LogTamperedError(RuntimeError):
    """The access log does not verify; the message says where."""


def canonical(entry: dict[str, Any]) -> bytes:
    return json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def entry_hash(entry: dict[str, Any]) -> str:
    return hashlib.sha256(canonical({k: v for k, v in entry.items() if k != "hash"})).hexdigest()


def hash_url(url: str) -> str:
    """What the log keeps of a URL or token: never the signature itself."""
    return hashlib.sha256(url.encode()).hexdigest()


def create_signing_key(path: Path) -> Path:
    """A new Ed25519 signing key (mode 600) at `path`, and its public key beside it (.pub)."""
    key = Ed25519PrivateKey.generate()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    public = path.with_suffix(".pub")
    public.write_bytes(
        key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    )
    return public


def load_signing_key(path: Path) -> Ed25519PrivateKey:
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    if not path.is_file():
        raise FileNotFoundError(f"access-log signing key not found: {path}")
    key = load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path} is not an Ed25519 private key")
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    if not path.is_file():
        raise FileNotFoundError(f"access-log public key not found: {path}")
    key = load_pem_public_key(path.read_bytes())
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError(f"{path} is not an Ed25519 public key")
    return key


def _signed(seq: int, head: str, role: str) -> bytes:
    # The role is signed too: a checkpoint's signature must not pass for the log's head.
    return f"massiv-access-log:{role}:{seq}:{head}".encode()


@dataclass
class AccessLog:
    path: Path
    signing_key: Ed25519PrivateKey | None = None  # None: read and verify only
    checkpoint_every: int = 100
    anchors: HeadAnchors | None = None  # where checkpoints copy the signed head (anchors.py)

    @property
    def head_path(self) -> Path:
        return self.path.with_name(self.path.name + ".head")

    @contextmanager
    def _locked(self, mode: int = fcntl.LOCK_EX) -> Iterator[Any]:
        """The log file, locked: exclusive to append, shared to read a consistent log + head."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a+b") as fh:
            fcntl.flock(fh.fileno(), mode)
            try:
                yield fh
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)

    def _read(self) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        """All entries and the signed head, read together under a shared lock (a writer may
        be appending)."""
        if not self.path.is_file():
            return [], None
        with self._locked(fcntl.LOCK_SH) as fh:
            fh.seek(0)
            entries = [_parse(line) for line in fh.read().splitlines() if line.strip()]
            head = (
                json.loads(self.head_path.read_text(encoding="utf-8"))
                if self.head_path.is_file()
                else None
            )
        return entries, head

    def entries(self) -> list[dict[str, Any]]:
        """The entries that parse (verify reports the others)."""
        return [e for e in self._read()[0] if "_unreadable" not in e]

    def append(
        self, event: str, actor: str, details: dict[str, Any], now: datetime | None = None
    ) -> dict[str, Any]:
        """Add one entry (and a signed checkpoint when one is due); returns the entry."""
        if self.signing_key is None:
            raise PermissionError("this access log was opened without its signing key")
        with self._locked() as fh:
            stamp = (now or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="seconds")
            lines = self._drop_partial_line(fh, stamp)
            # Never sign on top of a log changed since the last signature.
            prev = self._check_tail()
            entry = self._entry(lines[-1] if lines else prev, stamp, event, actor, details)
            lines.append(entry)
            if entry["seq"] % self.checkpoint_every == 0:
                lines.append(self._checkpoint(entry, stamp))
            fh.seek(0, os.SEEK_END)
            fh.write(
                "".join(
                    json.dumps(e, sort_keys=True, ensure_ascii=False) + "\n" for e in lines
                ).encode()
            )
            fh.flush()
            os.fsync(fh.fileno())
            self._write_head(lines[-1])
        if self.anchors is not None and lines[-1]["event"] == "checkpoint":
            try:
                self.anchor()
            except LogTamperedError:
                raise
            except Exception as exc:  # the entry is in; the next anchor covers it
                logger.warning(
                    "access log: could not anchor the head at %s: %s", self.anchors.url, exc
                )
        return entry

    def head(self) -> dict[str, Any] | None:
        """The signed head (seq, hash, signature) of the newest entry; None for an empty log."""
        return self._read()[1]

    def anchor(self) -> dict[str, Any] | None:
        """Copy the signed head to the anchors (write-once); returns it."""
        if self.anchors is None:
            raise ValueError("this access log has no anchors configured")
        head = self.head()
        if head is not None:
            self.anchors.put(head)
        return head

    def _check_tail(self) -> dict[str, Any]:
        """The last entry, which must be the one the signed head names (seq and hash); an
        empty log must have no head (then the genesis link is returned)."""
        assert self.signing_key is not None
        last = _last_line(self.path)
        head = (
            json.loads(self.head_path.read_text(encoding="utf-8"))
            if self.head_path.is_file()
            else None
        )
        if last is None and head is None:
            return {"seq": 0, "hash": GENESIS}
        entry = json.loads(last) if last else {}
        public = self.signing_key.public_key()
        if (
            head is None
            or not _valid(public, head.get("seq"), head.get("hash"), head.get("signature"), "head")
            or (entry.get("seq"), entry.get("hash")) != (head["seq"], head["hash"])
            or entry_hash(entry) != entry.get("hash")
        ):
            raise LogTamperedError(
                f"{self.path}: the log's last entry is not the one its signed head names; "
                "nothing appended (run `massiv access verify`)"
            )
        return entry

    def _drop_partial_line(self, fh: Any, stamp: str) -> list[dict[str, Any]]:
        """A writer that died mid-line left bytes no entry owns (the signed head never covered
        them): cut them off, and say so in the log."""
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
        if size == 0:
            return []
        fh.seek(size - 1)
        if fh.read(1) == b"\n":
            return []
        fh.seek(0)
        data = fh.read()
        keep = data.rfind(b"\n") + 1
        fh.truncate(keep)
        last = _last_line(self.path)
        prev = json.loads(last) if last else {"seq": 0, "hash": GENESIS}
        repair = {"dropped_bytes": size - keep}
        return [self._entry(prev, stamp, "log_repaired", "massiv", repair)]

    def _entry(
        self, prev: dict[str, Any], stamp: str, event: str, actor: str, details: dict[str, Any]
    ) -> dict[str, Any]:
        entry = {
            "seq": prev["seq"] + 1,
            "at": stamp,
            "event": event,
            "actor": actor,
            "details": details,
            "prev": prev["hash"],
        }
        entry["hash"] = entry_hash(entry)
        return entry

    def _checkpoint(self, covered: dict[str, Any], stamp: str) -> dict[str, Any]:
        assert self.signing_key is not None
        signature = self.signing_key.sign(
            _signed(covered["seq"], covered["hash"], "checkpoint")
        ).hex()
        return self._entry(
            covered,
            stamp,
            "checkpoint",
            "massiv",
            {"covers_seq": covered["seq"], "covers_hash": covered["hash"], "signature": signature},
        )

    def _write_head(self, newest: dict[str, Any]) -> None:
        assert self.signing_key is not None
        doc = {
            "seq": newest["seq"],
            "hash": newest["hash"],
            "signature": self.signing_key.sign(
                _signed(newest["seq"], newest["hash"], "head")
            ).hex(),
        }
        tmp = self.head_path.with_name(self.head_path.name + ".tmp")
        with tmp.open("w", encoding="utf-8") as fh:
            fh.write(json.dumps(doc, sort_keys=True) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.head_path)
        dir_fd = os.open(self.head_path.parent, os.O_RDONLY)  # the rename survives a crash
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def verify(
        self, public_key: Ed25519PublicKey, anchored: list[dict[str, Any]] | None = None
    ) -> list[str]:
        """Every problem found: broken hashes or links, gaps, bad signatures, a cut tail, and
        (given the anchored heads) a log rolled back or rewritten below an anchor."""
        entries, head = self._read()
        problems = self._check_chain(entries, head, public_key)
        by_seq = {e.get("seq"): e.get("hash") for e in entries}
        last = max((s for s in by_seq if isinstance(s, int)), default=0)
        for anchor in anchored or []:
            seq = anchor.get("seq")
            if not _valid(public_key, seq, anchor.get("hash"), anchor.get("signature"), "head"):
                problems.append(f"anchored head seq {seq}: signature does not verify")
            elif seq not in by_seq:
                problems.append(
                    f"anchored head seq {seq} is past the log's end (seq {last}): "
                    "the log was cut or rolled back after it was anchored"
                )
            elif by_seq[seq] != anchor.get("hash"):
                problems.append(
                    f"seq {seq} differs from its anchored head: the log was rewritten "
                    "after it was anchored"
                )
        return problems

    def _check_chain(
        self,
        entries: list[dict[str, Any]],
        head: dict[str, Any] | None,
        public_key: Ed25519PublicKey,
    ) -> list[str]:
        problems: list[str] = []
        prev_hash, expected_seq = GENESIS, 1
        for i, entry in enumerate(entries, start=1):
            where = f"line {i} (seq {entry.get('seq')})"
            if "_unreadable" in entry:
                problems.append(f"line {i}: not a log entry (cut or altered)")
            if entry.get("seq") != expected_seq:
                problems.append(
                    f"{where}: expected seq {expected_seq} (deleted, inserted or reordered)"
                )
            if entry.get("prev") != prev_hash:
                problems.append(f"{where}: does not follow the entry before it")
            if entry_hash(entry) != entry.get("hash"):
                problems.append(f"{where}: content changed after it was written")
            if entry.get("event") == "checkpoint":
                d = entry.get("details", {})
                if (
                    not _valid(
                        public_key,
                        d.get("covers_seq"),
                        d.get("covers_hash"),
                        d.get("signature"),
                        "checkpoint",
                    )
                    or d.get("covers_hash") != prev_hash
                ):
                    problems.append(f"{where}: checkpoint signature does not verify")
            prev_hash = entry.get("hash", "")
            expected_seq = (entry.get("seq") or expected_seq) + 1
        if head is None:
            if entries:
                problems.append(f"{self.head_path.name}: missing (the log's signed head)")
            return problems
        if not _valid(public_key, head.get("seq"), head.get("hash"), head.get("signature"), "head"):
            problems.append(f"{self.head_path.name}: signature does not verify")
        elif not entries or head["seq"] != entries[-1].get("seq") or head["hash"] != prev_hash:
            last = entries[-1].get("seq") if entries else 0
            problems.append(
                f"log ends at seq {last} but its signed head is seq {head['seq']} "
                "(entries cut off or appended without the key)"
            )
        return problems


def _parse(line: bytes | str) -> dict[str, Any]:
    try:
        doc = json.loads(line)
    except ValueError:
        return {"_unreadable": True}
    return doc if isinstance(doc, dict) else {"_unreadable": True}


def _last_line(path: Path, block: int = 8192) -> str | None:
    """The file's last non-empty line, read from the end (the log only grows)."""
    with path.open("rb") as fh:
        fh.seek(0, os.SEEK_END)
        end = fh.tell()
        data = b""
        while end > 0:
            start = max(0, end - block)
            fh.seek(start)
            data = fh.read(end - start) + data
            lines = [line for line in data.split(b"\n") if line.strip()]
            if len(lines) >= 2 or start == 0:
                return lines[-1].decode() if lines else None
            end = start
    return None


def _valid(key: Ed25519PublicKey, seq: Any, head: Any, signature: Any, role: str) -> bool:
    try:
        key.verify(bytes.fromhex(str(signature)), _signed(int(seq), str(head), role))
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True
