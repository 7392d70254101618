"""Group commit: concurrent callers share appends, every acknowledged entry is in the chain,
and a crash in the middle of a group leaves a log that verifies and goes on."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from privacy.access_log import AccessLog, create_signing_key, load_public_key, load_signing_key
from privacy.log_commit import GroupCommit


def new_log(tmp_path: Path, every: int = 10) -> tuple[AccessLog, Path]:
    pub = create_signing_key(tmp_path / "k" / "access-log.key")
    log = AccessLog(
        tmp_path / "access-log.jsonl", load_signing_key(tmp_path / "k" / "access-log.key"), every
    )
    return log, pub


def test_concurrent_callers_share_fsyncs_and_every_entry_is_chained(tmp_path: Path) -> None:
    log, pub = new_log(tmp_path)
    commit = GroupCommit(log)
    got: list[dict] = []
    start = threading.Barrier(64)

    def caller(n: int) -> None:
        start.wait()
        for i in range(10):
            got.append(commit.append("media_access", f"g{n}", {"video": f"v{n}-{i}"}))

    threads = [threading.Thread(target=caller, args=(n,)) for n in range(64)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    entries = [e for e in AccessLog(log.path).entries() if e["event"] == "media_access"]
    assert len(entries) == len(got) == 640
    assert {e["hash"] for e in entries} == {e["hash"] for e in got}  # what callers were told
    assert commit.entries == 640 and commit.groups < 640 / 4  # groups of many, not one each
    assert sum(e["event"] == "checkpoint" for e in AccessLog(log.path).entries()) >= 64
    assert log.verify(load_public_key(pub)) == []


def test_one_caller_alone_is_one_append(tmp_path: Path) -> None:
    log, _ = new_log(tmp_path)
    commit = GroupCommit(log)
    entry = commit.append("media_access", "g1", {"video": "v"})
    assert entry["seq"] == 1 and commit.groups == 1


def test_a_group_torn_on_disk_keeps_its_whole_lines_and_the_log_goes_on(tmp_path: Path) -> None:
    """The writer dies after half of a group's bytes reached the file, before the head: the
    next append keeps the whole lines the pending record vouched for, drops the torn one,
    logs the repair, and the chain verifies."""
    log, pub = new_log(tmp_path, every=1000)
    log.append("access_requested", "x", {})
    import privacy.access_log as module

    class Killed(BaseException):
        pass

    def torn_write(path: Path, text: str) -> None:
        if path.name.endswith(".head"):
            data = log.path.read_bytes()
            first = data.index(b"\n") + 1  # the entry that was there before the group
            group = data[first:]
            cut = group.index(b"\n", len(group) // 2) + 10  # inside a line
            log.path.write_bytes(data[:first] + group[:cut])
            raise Killed
        real_write(path, text)

    real_write = module._write_durably
    with pytest.MonkeyPatch.context() as m:
        m.setattr(module, "_write_durably", torn_write)
        with pytest.raises(Killed):
            log.append_many([("media_access", "g", {"video": f"v{i}"}) for i in range(10)])
    log.append("access_requested", "y", {})
    events = [e["event"] for e in AccessLog(log.path).entries()]
    kept = events.count("media_access")
    assert 0 < kept < 10
    assert events[-2:] == ["log_repaired", "access_requested"]
    assert log.verify(load_public_key(pub)) == []


def test_a_failed_append_fails_every_caller_of_its_group(tmp_path: Path) -> None:
    log, _ = new_log(tmp_path)
    commit = GroupCommit(log)
    log.path.write_text("not the log its head names\n")  # the log was cut and rewritten
    log.head_path.write_text('{"seq": 5, "hash": "00", "signature": "00"}\n')
    with pytest.raises(Exception, match="signed head"):
        commit.append("media_access", "g", {})
    assert commit.entries == 0
