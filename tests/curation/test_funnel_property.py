"""Property: for every flagging stage, kept + excluded = input, and nothing is invented."""

from datetime import date

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from curation.config import EngagementConfig, SensitiveConfig, WindowConfig
from curation.dedup import flag_exact_duplicates
from curation.engagement import score_engagement
from curation.exclusions import StageCount, check_balanced, split_flagged
from curation.ingest import flag_invalid_posts
from curation.sensitive import flag_sensitive
from curation.taxonomy import languages
from curation.window import flag_out_of_scope
from tests.conftest import raw_posts

row = st.fixed_dictionaries(
    {
        "post_id": st.one_of(st.none(), st.integers(1, 30)),
        "creator_id": st.one_of(st.none(), st.integers(1, 5)),
        "language": st.sampled_from(["hi", "ta", "xx", None]),
        "created_at": st.sampled_from(
            [
                "2021-01-20T00:00:00.000Z",
                "2021-06-01T12:00:00.000Z",
                "2021-11-20T00:00:00.000Z",
                "nope",
                None,
            ]
        ),
        "duration_s": st.one_of(st.none(), st.just(float("nan")), st.floats(-10, 8000)),
        "view_count": st.integers(-5, 10**6),
        "report_count": st.integers(0, 20),
        "moderation_label": st.sampled_from([None, "adult", "spam"]),
        "caption": st.sampled_from(["दोस्त", "gore fest", "hello", ""]),
        "media_sha256": st.sampled_from(["a", "b", "c", ""]),
    }
)


@settings(max_examples=60, deadline=None)
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
    current = frame.lazy()
    for stage, flag in stages:
        n_in = current.collect().height
        kept, excluded = split_flagged(flag(current), stage)
        kept_df, excluded_df = kept.collect(), excluded.collect()
        counts.append(StageCount(stage, n_in, kept_df.height, excluded_df.height))
        assert excluded_df["reason"].null_count() == 0
        current = kept_df.lazy()
    check_balanced(counts)
    assert all(c.balanced for c in counts)


def test_check_balanced_catches_a_lost_row() -> None:
    import pytest

    from curation.exclusions import FunnelError

    with pytest.raises(FunnelError, match="window: 10 in, 8 kept \\+ 1 excluded"):
        check_balanced([StageCount("window", 10, 8, 1)])


def test_split_without_detail_column() -> None:
    flagged = pl.LazyFrame({"post_id": [1, 2], "exclusion_reason": [None, "x"]})
    _, excluded = split_flagged(flagged, "s")
    assert excluded.collect()["detail"].to_list() == [None]
