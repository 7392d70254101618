"""Versions that share what did not change: patch releases, withdrawal, purge, verification."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from curation.release import bundle
from curation.release.build import changelog_entry, publish_release
from curation.release.patch import patch_release
from curation.release.verify import blocked_count, verify_release
from privacy.blocklist import Blocklist, add_entries, mac
from privacy.keys import PseudonymKey
from storage.local import LocalStore
from synth.release_rows import AGREEMENT, KEY, media_index, release_header, rows

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def publish(store: LocalStore, version: str, blocklist: Blocklist, shard_rows: int = 4) -> Path:
    header = release_header(version)
    labeled, unlabeled = rows(range(0, 12), 4, "labeled"), rows(range(100, 120), 5, "unlabeled")
    for blocked in (labeled, unlabeled):
        assert blocked.height
    path, _, _ = publish_release(
        store,
        header,
        labeled,
        unlabeled,
        AGREEMENT,
        [],
        lambda counts: changelog_entry(version, None, counts, []),
        blocklist,
        None,
        shard_rows,
        2,
        media=media_index(labeled, unlabeled),
    )
    return path


def block(blocklist: Blocklist, videos: list[int] = [], creators: list[int] = []) -> Blocklist:  # noqa: B006
    new = pl.DataFrame(
        [("video", mac(KEY, "video", v), "opt_out_video") for v in videos]
        + [("creator", mac(KEY, "creator", c), "opt_out_creator") for c in creators],
        schema={"kind": pl.String, "mac": pl.String, "reason": pl.String},
        orient="row",
    )
    return add_entries(blocklist, new, KEY)[0]


def data_files(folder: Path) -> list[Path]:
    return sorted(p for sub in ("labeled", "unlabeled") for p in (folder / sub).glob("*.parquet"))


def test_a_patch_rewrites_only_the_shards_that_lost_rows(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    parent = publish(store, "1.0.0", Blocklist.empty())
    # Creator 1003 has labeled videos 3, 7, 11 and unlabeled 103, 108, 113, 118.
    blocklist = block(Blocklist.empty(), videos=[101], creators=[1003])
    path, _, built = patch_release(store, "d", "1.0.0", "1.0.1", blocklist)

    assert built.removals == {"opt_out_creator": 7, "opt_out_video": 1}
    assert built.counts["labeled"] == 9 and built.counts["unlabeled"] == 15
    assert blocked_count(path, blocklist) == 0 and bundle.verify_bundle(path) == []
    shared = [f for f in data_files(path) if f.samefile(parent / f.relative_to(path))]
    rewritten = [f for f in data_files(path) if f not in shared]
    # Shards keep their names; only those holding a removed row were written again.
    assert [f.relative_to(path) for f in data_files(path)] == [
        f.relative_to(parent) for f in data_files(parent)
    ]
    assert rewritten and shared
    for f in rewritten:  # exactly the shards that held a blocked row
        assert (
            blocked_count(parent, blocklist)
            and pl.read_parquet(f).height < pl.read_parquet(parent / f.relative_to(path)).height
        )
    for f in shared:
        assert pl.read_parquet(f).height == pl.read_parquet(parent / f.relative_to(path)).height
    # Bytes written: the rewritten shards plus the small documents, never the whole dataset.
    rewritten_bytes = sum(f.stat().st_size for f in rewritten)
    docs = sum(
        f.stat().st_size
        for f in path.rglob("*")
        if (f.is_file() and f.suffix != ".parquet") or f.name == "splits.parquet"
    )
    assert built.bytes_written == rewritten_bytes + docs
    assert (path / "taxonomy.parquet").samefile(parent / "taxonomy.parquet")
    log = (path / "CHANGELOG.md").read_text()
    assert "opt_out_creator: 7, opt_out_video: 1" in log and "## 1.0.0" in log
    manifest = bundle.read_manifest(path)
    assert manifest["parent"] == "1.0.0" and manifest["blocklist"]["batch"] == 1
    assert manifest["blocklist"]["released_rows_blocked"] == 0
    assert verify_release(path, blocklist) == []
    # Every file of a version is a link to its content object.
    for entry in manifest["files"]:
        assert (path / entry["path"]).samefile(store.object_path("d", entry["sha256"]))


def test_a_patch_refuses_a_blocklist_made_under_another_key(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    publish(store, "1.0.0", Blocklist.empty())
    other = PseudonymKey("k1", bytes(range(1, 33)))
    blocklist = add_entries(
        Blocklist.empty(),
        pl.DataFrame({"kind": ["video"], "mac": [mac(other, "video", 1)], "reason": ["x"]}),
        other,
    )[0]
    with pytest.raises(ValueError, match="another key"):
        patch_release(store, "d", "1.0.0", "1.0.1", blocklist)
    assert store.versions("d") == ["1.0.0"]


def test_a_crash_mid_patch_publishes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = LocalStore(tmp_path)
    publish(store, "1.0.0", Blocklist.empty())

    def crash(*args: object, **kwargs: object) -> str:
        raise OSError("disk full")

    monkeypatch.setattr("curation.release.build.croissant", crash)
    with pytest.raises(OSError, match="disk full"):
        patch_release(store, "d", "1.0.0", "1.0.1", block(Blocklist.empty(), videos=[101]))
    assert store.versions("d") == ["1.0.0"]
    assert not any((tmp_path / "d" / ".staging").iterdir())


def test_withdrawn_versions_are_purged_after_retention_and_the_purge_is_logged(
    tmp_path: Path,
) -> None:
    store = LocalStore(tmp_path)
    parent = publish(store, "1.0.0", Blocklist.empty())
    blocklist = block(Blocklist.empty(), videos=[101])
    child, _, _ = patch_release(store, "d", "1.0.0", "1.0.1", blocklist)
    unique = [
        store.object_path("d", e["sha256"])
        for e in bundle.read_manifest(parent)["files"]
        if not (child / e["path"]).is_file()
        or not (child / e["path"]).samefile(store.object_path("d", e["sha256"]))
    ]
    assert unique  # the shard that lost video 101, and the documents
    assert store.withdraw("d", "1.0.0", "holds opted-out content", 30, T0)
    assert not store.withdraw("d", "1.0.0", "again", 30, T0)  # idempotent
    assert store.purge_due("d", T0 + timedelta(days=29)) == []
    assert (parent / "labeled").is_dir()

    [event] = store.purge_due("d", T0 + timedelta(days=31))
    assert event["version"] == "1.0.0" and event["objects_deleted"] == len(unique)
    assert event["bytes_freed"] > 0
    assert sorted(p.name for p in parent.iterdir()) == ["manifest.json"]  # still listed
    assert all(not obj.exists() for obj in unique)
    assert bundle.verify_bundle(child) == []  # the shared objects survived
    log = [
        json.loads(line)
        for line in (tmp_path / "d" / "store-log.jsonl").read_text().split("\n")
        if line
    ]
    assert [e["event"] for e in log] == ["withdraw", "purge"]
    assert store.withdrawn("d")["1.0.0"]["purged_at"]
    assert store.purge_due("d", T0 + timedelta(days=60)) == []  # nothing twice


def test_verify_checks_the_blocklist_commitment_and_the_attestation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = LocalStore(tmp_path)
    blocklist = block(Blocklist.empty(), videos=[999])  # batch 1, names nothing released
    path = publish(store, "1.0.0", blocklist)
    assert verify_release(path, blocklist) == []
    # Later batches do not disturb the commitment…
    grown = block(blocklist, videos=[998])
    assert verify_release(path, grown) == []
    # …but a lost or changed entry of a committed batch does.
    shrunk = Blocklist(blocklist.entries.head(0))
    assert any("commitment differs" in p for p in verify_release(path, shrunk))

    # A bug that lets a blocked row through is caught by the attestation check.
    bad = block(Blocklist.empty(), videos=[5])
    monkeypatch.setattr("curation.release.build.blocked_count", lambda *a: 0)
    leaky = publish(LocalStore(tmp_path / "other"), "1.0.0", bad)
    monkeypatch.undo()
    assert any("attestation fails: 1 released rows" in p for p in verify_release(leaky, bad))


def test_identical_files_are_stored_once(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    a = publish(store, "1.0.0", Blocklist.empty())
    b = publish(store, "1.0.1", Blocklist.empty())
    for f in data_files(a):
        assert os.path.samefile(f, b / f.relative_to(a))
    objects = [p for p in (tmp_path / "d" / "objects").rglob("*") if p.is_file()]
    assert len(objects) == len(
        {e["sha256"] for e in bundle.read_manifest(a)["files"]}
        | {e["sha256"] for e in bundle.read_manifest(b)["files"]}
    )


def test_garbage_from_a_crashed_publish_is_collected(tmp_path: Path) -> None:
    class Killed(LocalStore):  # the publisher dies after storing objects, before the rename
        def publish(self, staging: Path, dataset: str, version: str) -> Path:
            self._store_objects(staging, dataset)
            raise SystemExit("killed")

    store = LocalStore(tmp_path)
    live = publish(store, "1.0.0", Blocklist.empty())
    with pytest.raises(SystemExit):
        patch_release(
            Killed(tmp_path), "d", "1.0.0", "1.0.1", block(Blocklist.empty(), videos=[101])
        )
    staged = tmp_path / "d" / ".staging" / "left-behind"  # as a SIGKILL would leave it
    staged.mkdir()
    objects = {p.name for p in (tmp_path / "d" / "objects").glob("*/*")}
    listed = {e["sha256"] for e in bundle.read_manifest(live)["files"]}
    assert objects - listed  # the dead patch's shard and documents
    now = datetime.now(UTC)
    assert store.collect_garbage("d", now)["objects_deleted"] == 0  # too young: maybe at work
    later = store.collect_garbage("d", now + timedelta(days=2))
    assert later["objects_deleted"] == len(objects - listed) and later["staging_removed"] == 1
    assert {p.name for p in (tmp_path / "d" / "objects").glob("*/*")} == listed
    assert bundle.verify_bundle(live) == []
    log = (tmp_path / "d" / "store-log.jsonl").read_text()
    assert '"event": "gc"' in log
