import json
from pathlib import Path

from flows.common import RUN_MARKER, new_run_dir, point_to_run


def finished_run(target: Path, content: str) -> Path:
    run = new_run_dir(target)
    (run / "shortlist.parquet").write_text(content)
    (run / RUN_MARKER).write_text(json.dumps({"run": run.name}))
    return run


def test_the_output_is_a_link_to_the_latest_complete_run(tmp_path: Path) -> None:
    target = tmp_path / "curation"
    first = finished_run(target, "first")
    point_to_run(first, target)
    assert (target / "shortlist.parquet").read_text() == "first"
    second = finished_run(target, "second")
    assert (target / "shortlist.parquet").read_text() == "first"  # not visible until published
    point_to_run(second, target)
    assert target.resolve() == second.resolve()
    assert first.is_dir()  # kept: a release may still be reading it


def test_old_runs_are_pruned_but_unfinished_ones_are_left(tmp_path: Path) -> None:
    target = tmp_path / "curation"
    runs = [finished_run(target, str(i)) for i in range(5)]
    unfinished = new_run_dir(target)  # another run still in progress
    point_to_run(runs[-1], target, keep=3)
    assert [r.is_dir() for r in runs] == [False, False, True, True, True]
    assert unfinished.is_dir()


def test_a_plain_folder_from_before_is_moved_aside(tmp_path: Path) -> None:
    target = tmp_path / "curation"
    target.mkdir()
    (target / "shortlist.parquet").write_text("old")
    run = finished_run(target, "new")
    point_to_run(run, target)
    assert target.is_symlink() and (target / "shortlist.parquet").read_text() == "new"


def test_concurrent_runs_get_their_own_folders(tmp_path: Path) -> None:
    target = tmp_path / "curation"
    assert len({new_run_dir(target) for _ in range(20)}) == 20


def test_the_access_log_catches_up_with_what_a_crash_left_unlogged(tmp_path: Path) -> None:
    """The store is the truth: a version published, a batch applied, a version withdrawn and
    purged while no entry could be written are all logged at the next run, marked late, once."""
    from datetime import UTC, datetime

    from curation.config import AccessConfig
    from curation.release.build import patch_release
    from flows.common import access_log, record_events
    from privacy.access_log import create_signing_key, load_public_key
    from privacy.blocklist import Blocklist, save_blocklist
    from storage.local import LocalStore
    from tests.curation.release.test_build import block, publish

    public = create_signing_key(tmp_path / "keys" / "log.key")
    access = AccessConfig(access_dir=tmp_path / "access", signing_key=tmp_path / "keys" / "log.key")
    store, optout = LocalStore(tmp_path / "store"), tmp_path / "optout"
    publish(store, "1.0.0", Blocklist.empty())
    assert record_events(access, store, "d", optout) == 1  # on time
    blocklist = block(Blocklist.empty(), videos=[101])
    save_blocklist(optout, blocklist)
    patch_release(store, "d", "1.0.0", "1.0.1", blocklist)
    now = datetime(2026, 3, 1, tzinfo=UTC)
    store.withdraw("d", "1.0.0", "holds opted-out content", 0, now)
    store.purge_due("d", now)
    # ... and the run died before logging any of it. The next run's first step:
    assert record_events(access, store, "d", optout, late=True) == 4
    assert record_events(access, store, "d", optout, late=True) == 0  # once only
    log = access_log(access)
    events = [
        (e["event"], e["details"].get("version"), e["details"]["recorded_late"])
        for e in log.entries()
    ]
    assert events == [
        ("release_published", "1.0.0", False),
        ("opt_out_applied", None, True),
        ("release_published", "1.0.1", True),
        ("release_withdrawn", "1.0.0", True),
        ("release_purged", "1.0.0", True),
    ]
    assert log.entries()[1]["details"]["entries_added"] == 1
    assert log.verify(load_public_key(public)) == []
    assert record_events(None, store, "d", optout) == 0  # no access log configured
