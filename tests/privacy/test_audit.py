from pathlib import Path


def test_the_access_log_catches_up_with_what_a_crash_left_unlogged(tmp_path: Path) -> None:
    """The store is the truth: a version published, a batch applied, a version withdrawn and
    purged while no entry could be written are all logged at the next run, marked late, once."""
    from datetime import UTC, datetime

    from curation.config import AccessConfig
    from curation.release.patch import patch_release
    from privacy.access_log import create_signing_key, load_public_key
    from privacy.audit import access_log, record_events
    from privacy.blocklist import Blocklist, save_blocklist
    from storage.local import LocalStore
    from tests.curation.release.test_build import block, publish

    public = create_signing_key(tmp_path / "keys" / "log.key")
    access = AccessConfig(access_dir=tmp_path / "access", signing_key=tmp_path / "keys" / "log.key")
    store, opt_out_folder = LocalStore(tmp_path / "store"), tmp_path / "optout"
    publish(store, "1.0.0", Blocklist.empty())
    assert record_events(access, store, "d", opt_out_folder) == 1  # on time
    blocklist = block(Blocklist.empty(), videos=[101])
    save_blocklist(opt_out_folder, blocklist)
    patch_release(store, "d", "1.0.0", "1.0.1", blocklist)
    now = datetime(2026, 3, 1, tzinfo=UTC)
    store.withdraw("d", "1.0.0", "holds opted-out content", 0, now)
    store.purge_due("d", now)
    # ... and the run died before logging any of it. The next run's first step:
    assert record_events(access, store, "d", opt_out_folder, late=True) == 4
    assert record_events(access, store, "d", opt_out_folder, late=True) == 0  # once only
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
    assert record_events(None, store, "d", opt_out_folder) == 0  # no access log configured
