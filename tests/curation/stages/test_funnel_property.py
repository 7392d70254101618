"""Property: for every flagging stage, kept + excluded = input, and nothing is invented."""

from datetime import date

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from curation.annotations.taxonomy import languages
from curation.config import EngagementConfig, SensitiveConfig, WindowConfig
from curation.stages.dedup import flag_exact_duplicates
from curation.stages.engagement import score_engagement
from curation.stages.ingest import flag_invalid_posts
from curation.stages.sensitive import flag_sensitive
from curation.stages.window import flag_out_of_scope
from storage.exclusions import StageCount, check_balanced, split_flagged
from tests.conftest import raw_posts

# Mostly valid, in-scope rows (so every stage sees data), with a few of every fault. Choices are
# uniform: hypothesis's integer draws favour boundary values, which here would mean faults.
row = st.fixed_dictionaries(
    {
        "post_id": st.sampled_from([*range(1, 31), None]),
        "creator_id": st.sampled_from([*range(1, 10), None]),
        "language": st.sampled_from(["hi", "hi", "hi", "ta", "ta", "xx", None]),
        "created_at": st.sampled_from(
            [
                "2021-06-01T12:00:00.000Z",
                "2021-03-05T00:00:00.000Z",
                "2021-10-31T23:59:59.999Z",
                "2021-08-15T08:00:00.000Z",
                "2021-01-20T00:00:00.000Z",
                "2021-11-20T00:00:00.000Z",
                "nope",
                None,
            ]
        ),
        "duration_s": st.sampled_from(
            [20.0, 45.5, 4.5, 116.0, 30.0, 12.0, 3.0, 200.0, -1.0, float("nan"), None]
        ),
        "view_count": st.sampled_from([0, 10, 5_000, 10**6, 3, 77, 1, -5]),
        "report_count": st.sampled_from([0, 0, 0, 1, 2, 6, 9]),
        "moderation_label": st.sampled_from([None, None, None, "adult", "spam"]),
        "caption": st.sampled_from(["दोस्त", "gore fest", "hello", ""]),
        "media_sha256": st.sampled_from(["a", "b", "c", "d", ""]),
    }
)


@settings(max_examples=80, deadline=None)
@given(rows=st.lists(row, min_size=0, max_size=40))
def test_kept_plus_excluded_equals_input_at_every_stage(rows: list[dict]) -> None:
    frame = raw_posts(*rows) if rows else raw_posts({}).clear()
    stages = [
        ("ingest", lambda lf: flag_invalid_posts(lf, languages())),
        (
            "window",
            lambda lf: flag_out_of_scope(
                score_engagement(lf, EngagementConfig()),
                WindowConfig(start=date(2021, 2, 1), end=date(2021, 10, 31)),
            ),
        ),
        ("sensitive", lambda lf: flag_sensitive(lf, SensitiveConfig())),
        ("dedup", flag_exact_duplicates),
    ]
    counts = []
    current = frame
    for stage, flag in stages:
        kept, excluded = split_flagged(flag(current.lazy()), stage)
        kept_df, excluded_df = kept.collect(), excluded.collect()
        # A stage that joins (sensitive looks up flagged media) must neither duplicate nor lose
        # a row: the IDs kept plus the IDs excluded are the input's IDs, as a multiset.
        assert sorted(ids(kept_df["post_id"]) + ids(excluded_df["post_id"])) == sorted(
            ids(current["post_id"])
        )
        assert excluded_df["reason"].null_count() == 0
        counts.append(StageCount(stage, current.height, kept_df.height, excluded_df.height))
        current = kept_df
    check_balanced(counts)


def ids(series: pl.Series) -> list[int]:
    return sorted(series.fill_null(-1).to_list())


def test_check_balanced_catches_a_lost_row() -> None:
    import pytest

    from storage.exclusions import FunnelError

    with pytest.raises(FunnelError, match="window: 10 in, 8 kept \\+ 1 excluded"):
        check_balanced([StageCount("window", 10, 8, 1)])


def test_split_without_detail_column() -> None:
    flagged = pl.LazyFrame({"post_id": [1, 2], "exclusion_reason": [None, "x"]})
    _, excluded = split_flagged(flagged, "s")
    assert excluded.collect()["detail"].to_list() == [None]
