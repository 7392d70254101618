from pathlib import Path

import polars as pl
import pytest

from storage.exclusions import Funnel, FunnelError, exclusion_rows
from storage.runs import ReleaseBuild
from storage.tables import write_funnel


def test_a_funnel_records_each_stage_and_writes_what_it_dropped(tmp_path: Path) -> None:
    funnel = Funnel()
    gone = pl.DataFrame({"post_id": [2], "reason": ["opted_out"]})
    funnel.add("blocklist", 3, 2, exclusion_rows(gone, "blocklist"))
    held = pl.DataFrame({"post_id": [9], "reason": ["needs_expert"]})
    funnel.add("vote", 4, 3, exclusion_rows(held, "vote"))
    build = ReleaseBuild(tmp_path / ".builds", "1.0.0")
    write_funnel(funnel, build.exclusions, build.funnel)
    dropped = pl.read_parquet(build.exclusions("blocklist"))
    assert dropped.rows() == [(2, "blocklist", "opted_out", None)]
    assert pl.read_parquet(build.exclusions("vote"))["reason"].to_list() == ["needs_expert"]
    assert [s.stage for s in funnel.stages] == ["blocklist", "vote"]


def test_an_unbalanced_stage_stops_the_run_and_writes_nothing(tmp_path: Path) -> None:
    funnel = Funnel()
    lost = pl.DataFrame({"post_id": [7], "reason": ["needs_annotation"]})
    funnel.add("vote", 5, 3, exclusion_rows(lost, "vote"))  # one row vanished
    build = ReleaseBuild(tmp_path / ".builds", "1.0.0")
    with pytest.raises(FunnelError, match="vote: 5 in, 3 kept \\+ 1 excluded"):
        write_funnel(funnel, build.exclusions, build.funnel)
    assert not build.funnel.exists() and not build.exclusions("vote").exists()


def test_patch_rows_are_named_by_their_released_id() -> None:
    gone = pl.DataFrame({"video_id": ["ab12"], "reason": ["opt_out_video"], "_file": ["x"]})
    assert exclusion_rows(gone, "blocklist").columns == ["video_id", "stage", "reason", "detail"]
