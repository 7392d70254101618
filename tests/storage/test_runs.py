import json
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import polars as pl
import pytest

from storage import location, runs
from storage.runs import CurationRun
from synth.local_s3 import S3Server


def finished_run(target: Path, content: str) -> CurationRun:
    run = CurationRun.new(target)
    run.table("shortlist").write_text(content)
    run.marker.write_text(json.dumps({"run": run.root.name}))
    return run


def test_the_output_is_a_link_to_the_latest_complete_run(tmp_path: Path) -> None:
    target = tmp_path / "curation"
    first = finished_run(target, "first")
    first.publish(target)
    assert (target / "shortlist.parquet").read_text() == "first"
    second = finished_run(target, "second")
    assert (target / "shortlist.parquet").read_text() == "first"  # not visible until published
    second.publish(target)
    assert target.resolve() == second.root.resolve()
    assert first.root.is_dir()  # kept: a release may still be reading it


def test_old_runs_are_pruned_but_unfinished_ones_are_left(tmp_path: Path) -> None:
    target = tmp_path / "curation"
    runs = [finished_run(target, str(i)) for i in range(5)]
    unfinished = CurationRun.new(target)  # another run still in progress
    runs[-1].publish(target, keep=3)
    assert [r.root.is_dir() for r in runs] == [False, False, True, True, True]
    assert unfinished.root.is_dir()


def test_a_plain_folder_from_before_is_moved_aside(tmp_path: Path) -> None:
    target = tmp_path / "curation"
    target.mkdir()
    (target / "shortlist.parquet").write_text("old")
    finished_run(target, "new").publish(target)
    assert target.is_symlink() and (target / "shortlist.parquet").read_text() == "new"


def test_concurrent_runs_get_their_own_folders(tmp_path: Path) -> None:
    target = tmp_path / "curation"
    assert len({CurationRun.new(target) for _ in range(20)}) == 20


def test_a_run_names_only_its_own_tables(tmp_path: Path) -> None:
    import pytest

    with pytest.raises(ValueError, match="no table 'posts'"):
        CurationRun(tmp_path).table("posts")


def _run_in_child(target: Path) -> subprocess.Popen[str]:
    """A process that starts a run, writes a working table, and waits (to be killed)."""
    code = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from storage.runs import CurationRun\n"
        "run = CurationRun.new(sys.argv[1])\n"
        "Path(run.work).mkdir()\n"
        "(Path(run.work) / 'ledger.parquet').write_bytes(b'x' * 1000)\n"
        "print(run.root, flush=True)\n"
        "time.sleep(600)\n"
    )
    return subprocess.Popen(
        [sys.executable, "-c", code, str(target)], stdout=subprocess.PIPE, text=True
    )


def test_a_killed_run_is_swept_by_the_next_and_a_live_one_is_not(tmp_path: Path) -> None:
    target = tmp_path / "curation"
    killed, alive = _run_in_child(target), _run_in_child(target)
    try:
        assert killed.stdout is not None and alive.stdout is not None
        killed_root = Path(killed.stdout.readline().strip())
        alive_root = Path(alive.stdout.readline().strip())
        killed.send_signal(signal.SIGKILL)
        killed.wait()
        run = CurationRun.new(target)  # sweeps
        assert not killed_root.exists()  # with its working tables
        assert alive_root.is_dir() and (alive_root / "work" / "ledger.parquet").is_file()
        assert run.root.is_dir()
    finally:
        alive.kill()
        alive.wait()
    assert CurationRun.sweep(target) == [alive_root.name]


def test_a_killed_s3_run_leaves_nothing_on_s3(
    s3_server: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in s3_server.env(s3_server.admin).items():
        monkeypatch.setenv(name, value)
    bucket = f"runs-{uuid.uuid4().hex[:8]}"
    s3_server.client(s3_server.admin).create_bucket(Bucket=bucket)
    target = f"s3://{bucket}/curation"
    run = CurationRun.new(target)
    location.write_parquet(pl.DataFrame({"a": [1]}), location.join(run.work, "p.parquet"))
    assert location.list_files(run.work)
    _release_as_if_killed(run)
    CurationRun.sweep(target)
    assert not run.root.exists() and location.list_files(f"{target}/runs", "", True) == []


def _release_as_if_killed(run: CurationRun) -> None:
    """What the kernel does to a killed process's lock (the test cannot kill itself)."""
    os.close(runs._held.pop(run.root / runs.RUNNING))
