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
