"""The access log: append-only, hash-chained, with Ed25519-signed checkpoints.

Every entry is one JSON line: seq (1, 2, …), at, event, actor, details, prev (the previous
entry's hash) and hash = sha256 of the entry's canonical JSON without `hash`. Editing, deleting,
reordering or inserting an entry breaks the chain. Every `checkpoint_every` entries a
checkpoint entry carries an Ed25519 signature over (seq, hash of the entry before it), and after
every append `<log>.head` holds the signed (seq, hash) of the newest entry, so a log cut short
no longer matches its head. The signing key is kept apart from the store (a file the curator
holds); verifying needs only the public key, which `access verify` takes from beside the key.

An append refuses to sign on top of a last entry the signed head does not name (a cut, or lines
added without the key); an edit further up is not re-checked on append but found by verify.
Anchors (privacy/anchors.py) copy signed heads elsewhere, so an older log restored with its
older head is found too.

The log holds no URL signature and no token: callers log a hash of a URL instead.
Appends take an exclusive lock on the log file, so concurrent writers keep one chain.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

from privacy.anchors import HeadAnchors, LogTamperedError

GENESIS = "0" * 64
logger = logging.getLogger(__name__)


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


@dataclass(frozen=True)
class Position:
    """Where a reader of the log got to: bytes read, and the last entry's seq and hash."""

    offset: int = 0
    seq: int = 0
    hash: str = GENESIS


@dataclass
class AccessLog:
    path: Path
    signing_key: Ed25519PrivateKey | None = None  # None: read and verify only
    checkpoint_every: int = 100
    anchors: HeadAnchors | None = None  # where checkpoints copy the signed head (anchors.py)

    def read_since(self, at: Position | None = None) -> tuple[list[dict[str, Any]], Position]:
        """The entries after `at` (default: all), each checked to follow the one before it
        (hash, link, seq), and where they end. With the signing key, the end is also checked
        against the signed head. Raises LogTamperedError on any mismatch: a reader that acts
        on the log (the access desk) fails closed. Costs what is new, not the whole log.

        Reads without the lock first (head and pending record, then the lines: every end a
        writer leaves between its steps is vouched for by one of them), so readers never wait
        for a writer's fsyncs; only a read that does not check out is done again under it."""
        at = at or Position()
        if not self.path.is_file():
            if at.offset:
                raise LogTamperedError(f"{self.path}: the log is gone")
            return [], at
        try:
            if os.stat(self.path).st_size == at.offset:
                return [], at  # nothing new: `at` is an end this log was checked to have
            return self._check_since(at, *self._read_unlocked(at))
        except LogTamperedError:
            with self._locked(fcntl.LOCK_SH) as fh:
                data = self._read_from(fh, at)
                head, pending = _read_json(self.head_path), _read_json(self.pending_path)
            return self._check_since(at, data, head, pending)

    def _read_unlocked(
        self, at: Position
    ) -> tuple[bytes, dict[str, Any] | None, dict[str, Any] | None]:
        head, pending = _read_json(self.head_path), _read_json(self.pending_path)
        with self.path.open("rb") as fh:
            return self._read_from(fh, at), head, pending

    def _read_from(self, fh: Any, at: Position) -> bytes:
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
        if size < at.offset:
            raise LogTamperedError(f"{self.path}: the log is shorter than when last read")
        fh.seek(at.offset)
        return bytes(fh.read(size - at.offset))

    def _check_since(
        self,
        at: Position,
        data: bytes,
        head: dict[str, Any] | None,
        pending: dict[str, Any] | None,
    ) -> tuple[list[dict[str, Any]], Position]:
        whole = data[: data.rfind(b"\n") + 1]  # a dead writer's unfinished line waits
        entries, seq, last = [], at.seq, at.hash
        for line in whole.splitlines():
            if not line.strip():
                continue
            entry = _parse(line)
            if (
                entry.get("seq") != seq + 1
                or entry.get("prev") != last
                or entry_hash(entry) != entry.get("hash")
            ):
                raise LogTamperedError(
                    f"{self.path}: seq {seq + 1} does not follow the entry before it "
                    "(run `massiv access verify`)"
                )
            entries.append(entry)
            seq, last = entry["seq"], entry["hash"]
        key = self.signing_key.public_key() if self.signing_key is not None else None
        if key is not None and (seq, last) not in vouched_ends(key, head, pending) | {(0, GENESIS)}:
            raise LogTamperedError(
                f"{self.path}: the log's last entry is not the one its signed head names "
                "(run `massiv access verify`)"
            )
        return entries, Position(at.offset + len(whole), seq, last)

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

    def _read(
        self,
    ) -> tuple[list[dict[str, Any]], dict[str, Any] | None, dict[str, Any] | None]:
        """All entries, the signed head and any pending record, read together under a shared
        lock (a writer may be appending)."""
        if not self.path.is_file():
            return [], None, None
        with self._locked(fcntl.LOCK_SH) as fh:
            fh.seek(0)
            entries = [_parse(line) for line in fh.read().splitlines() if line.strip()]
            head = _read_json(self.head_path)
            pending = _read_json(self.pending_path)
        return entries, head, pending

    def entries(self) -> list[dict[str, Any]]:
        """The entries that parse (verify reports the others)."""
        return [e for e in self._read()[0] if "_unreadable" not in e]

    @property
    def pending_path(self) -> Path:
        return self.path.with_name(self.path.name + ".pending")

    def append(
        self, event: str, actor: str, details: dict[str, Any], now: datetime | None = None
    ) -> dict[str, Any]:
        """Add one entry (and a signed checkpoint when one is due); returns the entry."""
        return self.append_many([(event, actor, details)], now)[0]

    def append_many(
        self, items: list[tuple[str, str, dict[str, Any]]], now: datetime | None = None
    ) -> list[dict[str, Any]]:
        """Add entries (event, actor, details) in order, with one set of fsyncs for all of
        them (group commit: privacy/log_commit.py gathers concurrent callers' entries); a
        signed checkpoint follows each entry whose seq is due one. Returns the entries.

        Crash-safe in steps: a pending record goes to `<log>.pending` (signed: the head the
        append extends, and the (seq, hash) of each line it is about to write), then the
        lines, then the signed head. A writer that died part-way leaves a tail that the
        pending record vouches for, and the next append completes its work (writes the head
        for it) before its own; a tail nobody signed is refused."""
        if self.signing_key is None:
            raise PermissionError("this access log was opened without its signing key")
        if not items:
            return []
        with self._locked() as fh:
            stamp = (now or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="seconds")
            head = _read_json(self.head_path)
            ends = vouched_ends(self.signing_key.public_key(), head, _read_json(self.pending_path))
            # Never sign on top of a log changed since the last signature; checked before
            # anything is cut.
            prev, keep, dropped = self._check_tail(fh, ends, head is not None)
            base = (head["seq"], head["hash"]) if head is not None else (0, GENESIS)
            if (prev["seq"], prev["hash"]) != base:
                # A dead writer's lines, vouched for by its pending record: sign them first,
                # so that record is no longer needed when this append writes its own.
                _write_durably(self.head_path, json.dumps(self._signed_head(prev)) + "\n")
            fh.truncate(keep)
            lines: list[dict[str, Any]] = []
            if dropped:  # bytes of a line a dying writer left unfinished: say so in the log
                lines.append(
                    self._entry(prev, stamp, "log_repaired", "massiv", {"dropped_bytes": dropped})
                )
            entries = []
            for event, actor, details in items:
                entry = self._entry(lines[-1] if lines else prev, stamp, event, actor, details)
                lines.append(entry)
                entries.append(entry)
                if entry["seq"] % self.checkpoint_every == 0:
                    lines.append(self._checkpoint(entry, stamp))
            _write_durably(self.pending_path, json.dumps(self._pending_record(prev, lines)))
            fh.seek(0, os.SEEK_END)
            fh.write(
                "".join(
                    json.dumps(e, sort_keys=True, ensure_ascii=False) + "\n" for e in lines
                ).encode()
            )
            fh.flush()
            os.fsync(fh.fileno())
            _write_durably(self.head_path, json.dumps(self._signed_head(lines[-1])) + "\n")
            self.pending_path.unlink(missing_ok=True)
        if any(e["event"] == "checkpoint" for e in lines):
            self.try_anchor()
        return entries

    def try_anchor(self) -> None:
        """Anchor the head when anchors are configured. An unreachable anchor store is only
        warned about (what was logged stays logged; the next anchor covers it); an anchor that
        contradicts the log is not."""
        if self.anchors is None:
            return
        try:
            self.anchor()
        except LogTamperedError:
            raise
        except Exception as exc:
            logger.warning("access log: could not anchor the head at %s: %s", self.anchors.url, exc)

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

    def _check_tail(
        self, fh: Any, ends: set[tuple[int, str]], has_head: bool
    ) -> tuple[dict[str, Any], int, int]:
        """(the last entry, bytes to keep, bytes to drop). The last entry must be one of the
        vouched-for `ends`; an empty log must have no head (then the genesis link is returned).
        Bytes after the last newline are a line a writer died writing: dropped, unless they
        are a whole vouched-for entry missing only its newline (then it is completed)."""
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
        tail = _tail_block(fh, size)
        partial = tail[tail.rfind(b"\n") + 1 :]  # all of it when there is no newline
        keep = size - len(partial)
        complete = [line for line in tail[: len(tail) - len(partial)].split(b"\n") if line.strip()]
        candidates = [(partial, True, complete[-1] if complete else None)]
        if complete:
            candidates.append((complete[-1], False, complete[-2] if len(complete) > 1 else None))
        for candidate, extra, before in candidates:
            entry = _parse(candidate) if candidate.strip() else None
            if (
                entry is not None
                and _end(entry) in ends
                and entry_hash(entry) == entry.get("hash")
                # ... and it follows the line before it, so nothing was slipped in below it
                and entry.get("prev") == (_parse(before).get("hash") if before else GENESIS)
            ):
                if extra:  # a whole entry that only lacks its newline
                    fh.seek(0, os.SEEK_END)
                    fh.write(b"\n")
                    return entry, size + 1, 0
                return entry, keep, size - keep
        if not complete and not has_head:
            return {"seq": 0, "hash": GENESIS}, keep, size - keep
        raise LogTamperedError(
            f"{self.path}: the log's last entry is not the one its signed head names; "
            "nothing appended (run `massiv access verify`)"
        )

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

    def _pending_record(self, base: dict[str, Any], lines: list[dict[str, Any]]) -> dict[str, Any]:
        """What an append is about to write, signed and bound to the head it extends: it
        vouches for these lines only while that head is still the log's head."""
        assert self.signing_key is not None
        role = _pending_role(base["seq"], base["hash"])
        return {
            "base": {"seq": base["seq"], "hash": base["hash"]},
            "lines": [
                {
                    "seq": e["seq"],
                    "hash": e["hash"],
                    "signature": self.signing_key.sign(_signed(e["seq"], e["hash"], role)).hex(),
                }
                for e in lines
            ],
        }

    def _signed_head(self, newest: dict[str, Any]) -> dict[str, Any]:
        assert self.signing_key is not None
        return {
            "seq": newest["seq"],
            "hash": newest["hash"],
            "signature": self.signing_key.sign(
                _signed(newest["seq"], newest["hash"], "head")
            ).hex(),
        }

    def verify(
        self, public_key: Ed25519PublicKey, anchored: list[dict[str, Any]] | None = None
    ) -> list[str]:
        """Every problem found: broken hashes or links, gaps, bad signatures, a cut tail, and
        (given the anchored heads) a log rolled back or rewritten below an anchor."""
        entries, head, pending = self._read()
        problems = self._check_chain(entries, head, pending, public_key)
        by_seq = {end[0]: end[1] for end in map(_end, entries) if end is not None}
        last = max(by_seq, default=0)
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
        pending: dict[str, Any] | None,
        public_key: Ed25519PublicKey,
    ) -> list[str]:
        problems: list[str] = []
        prev_hash, expected_seq = GENESIS, 1
        for i, entry in enumerate(entries, start=1):
            where = f"line {i} (seq {entry.get('seq')})"
            if "_unreadable" in entry:
                problems.append(
                    f"line {i}: not a log entry (cut or altered"
                    + (
                        "; a writer killed mid-line leaves this, and the next append repairs it)"
                        if i == len(entries)
                        else ")"
                    )
                )
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
            seq = entry.get("seq")
            expected_seq = (seq if isinstance(seq, int) else expected_seq) + 1
        last = _end(entries[-1]) if entries else (0, GENESIS)
        if head is not None and not _valid(
            public_key, head.get("seq"), head.get("hash"), head.get("signature"), "head"
        ):
            problems.append(f"{self.head_path.name}: signature does not verify")
        elif entries and last not in vouched_ends(public_key, head, pending):
            # (A tail a dead writer's pending record vouches for is fine: the next append
            # completes it.)
            problems.append(
                f"{self.head_path.name}: missing (the log's signed head)"
                if head is None
                else f"log ends at seq {entries[-1].get('seq')} but its signed head is seq "
                f"{head['seq']} "
                "(entries cut off or appended without the key)"
            )
        elif not entries and head is not None:
            problems.append(
                f"log ends at seq 0 but its signed head is seq {head['seq']} (entries cut off)"
            )
        return problems


def _parse(line: bytes | str) -> dict[str, Any]:
    try:
        doc = json.loads(line)
    except ValueError:
        return {"_unreadable": True}
    return doc if isinstance(doc, dict) else {"_unreadable": True}


def _tail_block(fh: Any, size: int, block: int = 8192) -> bytes:
    """The end of the file, long enough to hold its last two lines (the log only grows)."""
    start = size
    data = b""
    while start > 0:
        start = max(0, start - block)
        fh.seek(start)
        data = fh.read(size - start)
        if data.count(b"\n") >= 3:
            break
    return data


def _read_json(path: Path) -> dict[str, Any] | None:
    """A small JSON document (head or pending record); None when absent or not JSON."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except ValueError:
        return None  # a pending record torn while written: no line of it reached the log
    return doc if isinstance(doc, dict) else None


def _end(entry: dict[str, Any]) -> tuple[int, str] | None:
    """An entry's (seq, hash), or None when they are not of the right types (altered)."""
    seq, digest = entry.get("seq"), entry.get("hash")
    if isinstance(seq, int) and not isinstance(seq, bool) and isinstance(digest, str):
        return seq, digest
    return None


def _pending_role(base_seq: int, base_hash: str) -> str:
    return f"pending:{base_seq}:{base_hash}"


def vouched_ends(
    public_key: Ed25519PublicKey, head: dict[str, Any] | None, pending: dict[str, Any] | None
) -> set[tuple[int, str]]:
    """The (seq, hash) the log may end at: its signed head's (genesis without a head), or one
    of the lines of a pending record that extends exactly that head (a writer died before
    rewriting the head). A pending record bound to any other head vouches for nothing."""
    if head is None:
        base: tuple[Any, Any] = (0, GENESIS)
        ends: set[tuple[int, str]] = set()
    elif _valid(public_key, head.get("seq"), head.get("hash"), head.get("signature"), "head"):
        base = (head["seq"], head["hash"])
        ends = {base}
    else:
        return set()
    if pending is None or not isinstance(pending.get("base"), dict):
        return ends
    if (pending["base"].get("seq"), pending["base"].get("hash")) != base:
        return ends
    role = _pending_role(*base)
    for line in pending.get("lines", []):
        if isinstance(line, dict) and _valid(
            public_key, line.get("seq"), line.get("hash"), line.get("signature"), role
        ):
            ends.add((line["seq"], line["hash"]))
    return ends


def _write_durably(path: Path, text: str) -> None:
    """Replace `path` by `text` atomically, surviving a crash (fsync of file and folder). The
    temporary file gets a fresh random name (O_EXCL, never following a planted link)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o644)  # readable like the log itself: `access verify` needs no key
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _valid(key: Ed25519PublicKey, seq: Any, head: Any, signature: Any, role: str) -> bool:
    # A reader checks the same head again and again (the gateway, once per request): a
    # signature that verified once under this key is valid for good.
    seen = (key.public_bytes_raw(), str(seq), str(head), str(signature), role)
    if seen in _VERIFIED:
        return True
    try:
        key.verify(bytes.fromhex(str(signature)), _signed(int(seq), str(head), role))
    except (InvalidSignature, ValueError, TypeError):
        return False
    if len(_VERIFIED) > 10_000:
        _VERIFIED.clear()
    _VERIFIED.add(seen)
    return True


_VERIFIED: set[tuple[bytes, str, str, str, str]] = set()
