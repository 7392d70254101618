import json
from pathlib import Path

from storage.runs import CurationRun


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
