from pathlib import Path

import polars as pl

from curation.release.copies import clustered_copies, saved_matches
from storage.runs import CurationRun


def test_saved_clusters_answer_for_the_videos_the_run_saw(tmp_path: Path) -> None:
    run = CurationRun(tmp_path)
    pl.DataFrame(
        {
            "post_id": [1, 2, 3],
            "cluster": [0, 0, 1],
            "representative": [1, 1, 3],
            "matches": [[2], [1], []],
        }
    ).write_parquet(run.neardup_clusters)
    saved = saved_matches(run, pl.Series([2, 9]))
    assert saved is not None and saved["post_id"].to_list() == [2]  # 9: unseen, to search
    candidates = pl.DataFrame({"post_id": [1, 3]})
    assert clustered_copies(saved, candidates).rows() == [(1, 2)]


def test_a_damaged_clusters_file_means_search_not_skip(tmp_path: Path) -> None:
    run = CurationRun(tmp_path)
    run.neardup_clusters.write_bytes(b"not parquet")
    assert saved_matches(run, pl.Series([1])) is None
    assert saved_matches(CurationRun(tmp_path / "none"), pl.Series([1])) is None
