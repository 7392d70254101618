"""The access log detects every kind of tampering, and concurrent writers keep one chain."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from privacy.access_log import (
    AccessLog,
    LogTamperedError,
    create_signing_key,
    entry_hash,
    hash_url,
    load_public_key,
    load_signing_key,
)


@pytest.fixture
def log(tmp_path: Path) -> AccessLog:
    # The signing key lives apart from the log (here: another folder).
    public = create_signing_key(tmp_path / "keys" / "access-log.key")
    (tmp_path / "log").mkdir()
    (tmp_path / "log" / "access-log.pub").write_bytes(public.read_bytes())
    log = AccessLog(
        tmp_path / "log" / "access-log.jsonl",
        load_signing_key(tmp_path / "keys" / "access-log.key"),
        checkpoint_every=10,
    )
    for i in range(34):
        log.append(
            "url_issued",
            f"researcher-{i % 3}",
            {"version": "1.0.0", "url_sha256": hash_url(f"u{i}")},
        )
    return log


def public(log: AccessLog) -> Ed25519PublicKey:
    return load_public_key(log.path.with_name("access-log.pub"))


def lines(log: AccessLog) -> list[str]:
    return log.path.read_text().splitlines()


def rewrite(log: AccessLog, new: list[str]) -> None:
    log.path.write_text("".join(line + "\n" for line in new))


def test_an_untouched_log_verifies_with_checkpoints_and_a_signed_head(log: AccessLog) -> None:
    entries = log.entries()
    assert [e["seq"] for e in entries] == list(range(1, len(entries) + 1))
    checkpoints = [e for e in entries if e["event"] == "checkpoint"]
    assert len(checkpoints) == 3  # after seq 10, 20, 30 (a checkpoint takes a seq too)
    assert log.verify(public(log)) == []
    assert "u3" not in log.path.read_text()  # only hashes of URLs


def edit(log: AccessLog) -> None:
    entries = lines(log)
    doc = json.loads(entries[4])
    doc["actor"] = "someone-else"
    entries[4] = json.dumps(doc, sort_keys=True)
    rewrite(log, entries)


def delete(log: AccessLog) -> None:
    entries = lines(log)
    del entries[6]
    rewrite(log, entries)


def reorder(log: AccessLog) -> None:
    entries = lines(log)
    entries[2], entries[3] = entries[3], entries[2]
    rewrite(log, entries)


def insert_and_rechain(log: AccessLog) -> None:
    """An attacker inserts an entry and recomputes every hash after it (but has no key)."""
    entries = [json.loads(line) for line in lines(log)]
    forged = dict(entries[11], event="url_issued", actor="ghost", details={"version": "1.0.0"})
    entries.insert(12, forged)
    prev = entries[11]["hash"]
    for seq, entry in enumerate(entries[12:], start=entries[11]["seq"] + 1):
        entry["seq"], entry["prev"] = seq, prev
        entry["hash"] = entry_hash(entry)
        prev = entry["hash"]
    rewrite(log, [json.dumps(e, sort_keys=True) for e in entries])


def truncate(log: AccessLog) -> None:
    rewrite(log, lines(log)[:-3])


def drop_head(log: AccessLog) -> None:
    log.head_path.unlink()


@pytest.mark.parametrize(
    ("tamper", "message"),
    [
        (edit, "content changed"),
        (delete, "expected seq"),
        (reorder, "does not follow"),
        (insert_and_rechain, "checkpoint signature does not verify"),
        (truncate, "signed head is seq"),
        (drop_head, "missing"),
    ],
)
def test_every_kind_of_tampering_is_detected(
    log: AccessLog, tamper: Callable[[AccessLog], None], message: str
) -> None:
    tamper(log)
    problems = log.verify(public(log))
    assert any(message in p for p in problems), problems


def test_a_log_signed_with_another_key_does_not_verify(log: AccessLog) -> None:
    other = Ed25519PrivateKey.generate().public_key()
    problems = log.verify(other)
    assert any("signature does not verify" in p for p in problems)


def test_without_the_signing_key_nothing_can_be_appended(log: AccessLog) -> None:
    reader = AccessLog(log.path)
    with pytest.raises(PermissionError):
        reader.append("url_issued", "x", {})
    assert reader.verify(public(log)) == []


def test_concurrent_writers_keep_one_chain(tmp_path: Path) -> None:
    key_file = tmp_path / "k" / "access-log.key"
    pub = create_signing_key(key_file)

    def writer(n: int) -> None:
        own = AccessLog(tmp_path / "access-log.jsonl", load_signing_key(key_file), 25)
        for i in range(25):
            own.append("url_issued", f"w{n}", {"i": i})

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    log = AccessLog(tmp_path / "access-log.jsonl")
    issued = [e for e in log.entries() if e["event"] == "url_issued"]
    assert len(issued) == 200
    assert log.verify(load_public_key(pub)) == []


def test_a_line_cut_by_a_dying_writer_is_dropped_and_the_repair_logged(log: AccessLog) -> None:
    with log.path.open("a") as fh:
        fh.write('{"seq": 99, "event": "url_iss')  # the writer died here
    log.append("url_issued", "r", {"version": "1.0.0"})
    events = [e["event"] for e in log.entries()]
    assert events[-2:] == ["log_repaired", "url_issued"]
    assert log.entries()[-2]["details"]["dropped_bytes"] == len('{"seq": 99, "event": "url_iss')
    assert log.verify(public(log)) == []


def test_verify_while_writers_append_sees_a_consistent_log(log: AccessLog) -> None:
    stop = threading.Event()

    def writer() -> None:
        while not stop.is_set():
            log.append("url_issued", "w", {"version": "1.0.0"})

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        results = [log.verify(public(log)) for _ in range(30)]
    finally:
        stop.set()
        thread.join()
    assert all(r == [] for r in results), [r for r in results if r][:1]


def test_a_reader_racing_group_appends_sees_every_entry_once_and_rarely_takes_the_lock(
    log: AccessLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """read_since reads without the log's lock (head and pending record before the lines);
    a read caught between a writer's steps must neither raise nor lose an entry."""
    import fcntl

    reader = AccessLog(log.path, log.signing_key)
    locked_reads = 0
    plain = AccessLog._locked

    def counting(self: AccessLog, mode: int = fcntl.LOCK_EX) -> object:
        nonlocal locked_reads
        if mode == fcntl.LOCK_SH and threading.current_thread() is threading.main_thread():
            locked_reads += 1
        return plain(self, mode)

    monkeypatch.setattr(AccessLog, "_locked", counting)
    stop = threading.Event()

    def writer() -> None:
        for n in range(300):
            log.append_many([("media_access", "w", {"n": n, "k": k}) for k in range(5)])
        stop.set()

    seen, reads = reader.read_since()
    position = reads
    thread = threading.Thread(target=writer)
    thread.start()
    calls = 0
    try:
        while not stop.is_set():
            entries, position = reader.read_since(position)
            seen += entries
            calls += bool(entries)
    finally:
        thread.join()
    entries, position = reader.read_since(position)
    seen += entries
    assert [e["seq"] for e in seen] == list(range(1, len(seen) + 1))
    got = [(e["details"]["n"], e["details"]["k"]) for e in seen if e["event"] == "media_access"]
    assert got == [(n, k) for n in range(300) for k in range(5)]
    assert seen == log.entries()
    # Reads that found new entries mostly took no lock: only those that raced a writer did.
    assert calls > 50 and locked_reads < calls / 4


def test_the_next_append_refuses_a_log_changed_since_its_last_signature(log: AccessLog) -> None:
    # Cutting entries, then letting an ordinary append re-sign the cut log: refused.
    rewrite(log, lines(log)[:-3])
    with pytest.raises(LogTamperedError):
        log.append("access_requested", "x", {})
    assert any("signed head" in p for p in log.verify(public(log)))


def test_a_checkpoint_signature_does_not_pass_for_the_head(log: AccessLog) -> None:
    entries = log.entries()
    checkpoint = next(e for e in entries if e["event"] == "checkpoint")
    cut = checkpoint["seq"] - 1  # keep up to the entry the checkpoint covers
    rewrite(log, lines(log)[:cut])
    d = checkpoint["details"]
    log.head_path.write_text(
        json.dumps({"seq": d["covers_seq"], "hash": d["covers_hash"], "signature": d["signature"]})
    )
    assert any("signature does not verify" in p for p in log.verify(public(log)))


def test_a_deleted_entry_cannot_pass_for_a_dying_writers_partial_line(log: AccessLog) -> None:
    rewrite(log, lines(log)[:-1])
    with log.path.open("a") as fh:
        fh.write('{"seq": 99, "ev')
    with pytest.raises(LogTamperedError):
        log.append("url_issued", "r", {})


def die_before(target: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the next durable write of `target` (the head or the pending record) kill the
    writer, as a crash would."""
    import privacy.access_log as module

    real = module._write_durably

    def write(path: Path, text: str) -> None:
        if path.name.endswith(target):
            raise SystemExit(f"killed before writing {path.name}")
        real(path, text)

    monkeypatch.setattr(module, "_write_durably", write)


@pytest.mark.parametrize("target", [".head", ".pending"])
def test_a_writer_killed_mid_append_never_locks_the_log(
    log: AccessLog, target: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed after its lines are on disk but before the head (or before anything): the log
    still verifies, and the next append goes on from it; nothing signed is lost."""
    before = len(log.entries())
    with monkeypatch.context() as m:
        die_before(target, m)
        with pytest.raises(SystemExit):
            log.append("access_revoked", "curator", {"grant": "g-1"})
    written = target == ".head"  # the pending record went first, then the lines
    assert len(log.entries()) == before + written
    assert log.verify(public(log)) == []
    log.append("access_requested", "x", {})
    assert [e["event"] for e in log.entries()[before:]] == (
        ["access_revoked"] * written + ["access_requested"]
    )
    assert log.verify(public(log)) == [] and not log.pending_path.exists()


def test_a_line_torn_after_a_vouched_entry_keeps_the_entry(log: AccessLog) -> None:
    """An entry and its checkpoint are written together; torn inside the checkpoint, the entry
    (which the pending record vouches for) stays and the torn bytes go."""
    while (log.entries()[-1]["seq"] + 1) % 10:  # the next append comes with a checkpoint
        log.append("url_issued", "r", {})
    size = log.path.stat().st_size
    pending_before = log.pending_path.exists()
    log.append("url_issued", "last-before-checkpoint", {})
    assert log.entries()[-1]["event"] == "checkpoint" and not pending_before
    data = log.path.read_bytes()
    entry_end = data.index(b"\n", size) + 1
    # Rebuild the crash: the pending record of that append, the file torn in the checkpoint,
    # the head still the one before.
    base, entry, checkpoint = log.entries()[-3:]
    log.pending_path.write_text(json.dumps(log._pending_record(base, [entry, checkpoint])))
    log.path.write_bytes(data[: entry_end + 20])
    log.head_path.write_text(json.dumps(log._signed_head(base)))
    log.append("after", "r", {})
    events = [e["event"] for e in log.entries()[-4:]]
    assert events == ["url_issued", "url_issued", "log_repaired", "after"]
    assert log.entries()[-3]["actor"] == "last-before-checkpoint"
    assert log.verify(public(log)) == []


def test_an_entry_missing_only_its_newline_is_completed_not_cut(log: AccessLog) -> None:
    log.append("access_revoked", "curator", {"grant": "g-1"})
    log.path.write_bytes(log.path.read_bytes()[:-1])
    assert log.verify(public(log)) == []
    log.append("access_requested", "x", {})
    assert [e["event"] for e in log.entries()[-2:]] == ["access_revoked", "access_requested"]
    assert log.verify(public(log)) == []


def test_entries_appended_without_the_key_are_still_refused(log: AccessLog) -> None:
    last = log.entries()[-1]
    forged = {
        "seq": last["seq"] + 1,
        "at": last["at"],
        "event": "access_approved",
        "actor": "mallory",
        "details": {},
        "prev": last["hash"],
    }
    forged["hash"] = entry_hash(forged)
    with log.path.open("a") as fh:
        fh.write(json.dumps(forged) + "\n")
    assert any("signed head" in p for p in log.verify(public(log)))
    with pytest.raises(LogTamperedError):
        log.append("access_requested", "x", {})


def test_a_stale_pending_record_cannot_hide_a_cut(
    log: AccessLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Someone without the key keeps a copy of a pending record, later cuts the log back to
    the line it names and puts the copy back: it extends an older head, so it vouches for
    nothing."""
    import privacy.access_log as module

    real = module._write_durably
    copies: list[str] = []

    def keep_copies(path: Path, text: str) -> None:
        if path.name.endswith(".pending"):
            copies.append(text)
        real(path, text)

    with monkeypatch.context() as m:
        m.setattr(module, "_write_durably", keep_copies)
        log.append("access_approved", "curator", {"grant": "g-1"})
    kept_seq = log.entries()[-1]["seq"]
    log.append("access_revoked", "curator", {"grant": "g-1"})  # what the cut will erase
    text = log.path.read_text().splitlines()
    cut = next(i for i, line in enumerate(text) if json.loads(line)["seq"] == kept_seq)
    log.path.write_text("\n".join(text[: cut + 1]) + "\n")
    log.pending_path.write_text(copies[-1])
    assert any("signed head is seq" in p for p in log.verify(public(log)))
    with pytest.raises(LogTamperedError):
        log.append("access_requested", "x", {})


def die_after(target: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The writer dies right after the next durable write of `target`."""
    import privacy.access_log as module

    real = module._write_durably

    def write(path: Path, text: str) -> None:
        real(path, text)
        if path.name.endswith(target):
            raise SystemExit(f"killed after writing {path.name}")

    monkeypatch.setattr(module, "_write_durably", write)


def test_two_writers_killed_in_a_row_still_leave_a_log_that_goes_on(
    log: AccessLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A dies after its lines (no head); B accepts them, then dies after its pending record.
    The log must neither lose A's entry nor lock up."""
    with monkeypatch.context() as m:
        die_before(".head", m)
        with pytest.raises(SystemExit):
            log.append("access_revoked", "curator", {"grant": "g-1"})
    with monkeypatch.context() as m:
        die_after(".pending", m)
        with pytest.raises(SystemExit):
            log.append("access_requested", "b", {})
    assert log.verify(public(log)) == []
    log.append("access_requested", "c", {})
    assert [e["actor"] for e in log.entries()[-2:]] == ["curator", "c"]
    assert log.verify(public(log)) == []


def new_log_killed_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AccessLog:
    """A new log whose first writer ("a") died after its line, before any head."""
    create_signing_key(tmp_path / "k" / "log.key")
    log = AccessLog(tmp_path / "log.jsonl", load_signing_key(tmp_path / "k" / "log.key"))
    with monkeypatch.context() as m:
        die_before(".head", m)
        with pytest.raises(SystemExit):
            log.append("access_requested", "a", {})
    return log


def test_a_writer_killed_on_the_very_first_append(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = new_log_killed_once(tmp_path, monkeypatch)
    key = load_public_key(tmp_path / "k" / "log.pub")
    assert log.verify(key) == []
    log.append("access_requested", "b", {})
    assert [e["actor"] for e in log.entries()] == ["a", "b"] and log.verify(key) == []


def test_a_planted_link_at_the_temporary_name_is_never_followed(log: AccessLog) -> None:
    victim = log.path.parent / "victim"
    victim.write_text("precious")
    for name in (".pending.tmp", ".head.tmp"):
        (log.path.parent / (log.path.name + name)).symlink_to(victim)
    log.append("access_requested", "x", {})
    assert victim.read_text() == "precious" and log.verify(public(log)) == []


def test_two_writers_killed_in_a_row_on_a_new_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No head yet: the first writer dies after its line, the second after its pending record;
    the third goes on."""
    log = new_log_killed_once(tmp_path, monkeypatch)
    with monkeypatch.context() as m:
        die_after(".pending", m)
        with pytest.raises(SystemExit):
            log.append("access_requested", "b", {})
    log.append("access_requested", "c", {})
    key = load_public_key(tmp_path / "k" / "log.pub")
    assert [e["actor"] for e in log.entries()] == ["a", "c"] and log.verify(key) == []


def test_a_line_slipped_in_below_a_copy_of_the_last_is_refused(log: AccessLog) -> None:
    """Without the key: a forged entry, then a copy of the real last line (whose seq and hash
    the head names). The tail matches the head, but it does not follow the line before it."""
    text = lines(log)
    forged = {**json.loads(text[-2]), "actor": "mallory"}
    forged["hash"] = entry_hash(forged)
    rewrite(log, [*text, json.dumps(forged), text[-1]])
    with pytest.raises(LogTamperedError):
        log.append("access_requested", "x", {})
    assert log.verify(public(log))


def test_odd_field_types_are_reported_not_crashed_on(log: AccessLog) -> None:
    text = lines(log)
    odd = {**json.loads(text[-1]), "seq": [1]}
    rewrite(log, [*text[:-1], json.dumps(odd)])
    assert log.verify(public(log))
    with pytest.raises(LogTamperedError):
        log.append("access_requested", "x", {})
