from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from curation.release import bundle
from storage.local import LocalStore, VersionExistsError

UNLABELED = bundle.SCHEMAS["unlabeled"]

post_rows = st.lists(
    st.fixed_dictionaries(
        {
            "video_id": st.text("0123456789abcdef", min_size=16, max_size=16),
            "creator_id": st.text("0123456789abcdef", min_size=16, max_size=16),
            "language": st.sampled_from(["hi", "ta", "bho"]),
            "published": st.sampled_from(["2021-W09", "2021-W40"]),
            "duration_s": st.floats(4.5, 116),
            "view_count": st.integers(0, 10**9),
            "like_count": st.integers(0, 10**6),
            "share_count": st.integers(0, 10**6),
            "comment_count": st.integers(0, 10**6),
        }
    ),
    max_size=30,
)


def frame(rows: list[dict]) -> pl.DataFrame:
    empty = pl.from_arrow(UNLABELED.empty_table())
    assert isinstance(empty, pl.DataFrame)
    # Released rows carry a media URL made from the pseudonym (privacy/masking.py).
    filled = [{**r, "media_url": f"https://media.example/v/{r['video_id']}.mp4"} for r in rows]
    return pl.DataFrame(filled, schema=empty.schema)


def released_row(video_id: str) -> dict:
    return {
        "video_id": video_id,
        "creator_id": "c" * 16,
        "language": "hi",
        "published": "2021-W09",
        "duration_s": 10.0,
        "view_count": 1,
        "like_count": 1,
        "share_count": 1,
        "comment_count": 1,
    }


def build(root: Path, rows: list[dict]) -> str:
    files = bundle.write_shards(
        root,
        "unlabeled",
        "unlabeled",
        frame(rows).sort("video_id"),
        UNLABELED,
        shard_rows=7,
        row_group_rows=3,
    )
    files.append(bundle.write_text(root, "CHANGELOG.md", "# Changelog\n"))
    return bundle.write_manifest(root, {"dataset": "d", "version": "1.0.0"}, files)


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=post_rows)
def test_two_builds_are_byte_identical(tmp_path: Path, rows: list[dict]) -> None:
    import uuid

    a, b = tmp_path / uuid.uuid4().hex, tmp_path / uuid.uuid4().hex
    assert build(a, rows) == build(b, rows)
    files_a = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert files_a == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    for rel in files_a:
        assert (a / rel).read_bytes() == (b / rel).read_bytes()
    assert bundle.verify_bundle(a) == []


def test_shards_are_named_and_sized(tmp_path: Path) -> None:
    rows = [released_row(f"{i:016x}") for i in range(15)]
    build(tmp_path, rows)
    names = sorted(p.name for p in (tmp_path / "unlabeled").iterdir())
    assert names == [f"unlabeled-0000{i}-of-00003.parquet" for i in range(3)]
    manifest = bundle.read_manifest(tmp_path)
    assert [f["rows"] for f in manifest["files"] if f["path"].endswith(".parquet")] == [7, 7, 1]


def test_verify_detects_every_kind_of_tampering(tmp_path: Path) -> None:
    rows = [released_row("a" * 16)]
    build(tmp_path, rows)
    assert bundle.verify_bundle(tmp_path) == []
    (tmp_path / "CHANGELOG.md").write_text("# Changelog\nedited\n")
    (tmp_path / "extra.txt").write_text("x")
    shard = next((tmp_path / "unlabeled").iterdir())
    shard.unlink()
    problems = bundle.verify_bundle(tmp_path)
    assert any("CHANGELOG.md" in p and "bytes" in p for p in problems)
    assert any("CHANGELOG.md: sha256" in p for p in problems)
    assert f"unlabeled/{shard.name}: missing" in problems
    assert "extra.txt: not in the manifest" in problems
    (tmp_path / "manifest.json").unlink()
    assert "not a release bundle" in bundle.verify_bundle(tmp_path)[0]


def test_publish_is_atomic_and_immutable(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    staging = store.stage("d", "1.0.0")
    build(staging, [])
    assert store.versions("d") == []  # staged is not published
    path = store.publish(staging, "d", "1.0.0")
    assert store.versions("d") == ["1.0.0"] and bundle.verify_bundle(path) == []
    with pytest.raises(VersionExistsError, match="immutable"):
        store.stage("d", "1.0.0")
    other = tmp_path / "d" / ".staging" / "late"
    other.mkdir()
    (other / "x").write_text("x")
    with pytest.raises(VersionExistsError):
        store.publish(other, "d", "1.0.0")
    assert bundle.verify_bundle(path) == []  # the published version is untouched


KILLED_PUBLISHER = """
import os, signal, sys
from pathlib import Path
from storage.local import LocalStore
from tests.curation.release.test_bundle_store import build, released_row
store = LocalStore(Path(sys.argv[1]))
staging = store.stage("d", "1.0.1")
build(staging, [released_row("a" * 16)])
os.kill(os.getpid(), signal.SIGKILL)  # dies after writing everything, before publishing
"""


def test_a_publisher_killed_mid_way_leaves_no_version(tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[3]
    proc = subprocess.run(
        [sys.executable, "-c", KILLED_PUBLISHER, str(tmp_path)],
        cwd=root,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert any((tmp_path / "d" / ".staging").iterdir())  # it had written its files
    store = LocalStore(tmp_path)
    assert store.versions("d") == []  # but no reader sees 1.0.1
    rerun = store.stage("d", "1.0.1")
    build(rerun, [])
    store.publish(rerun, "d", "1.0.1")
    assert store.versions("d") == ["1.0.1"]
