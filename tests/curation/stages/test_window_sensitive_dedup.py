from datetime import date

import polars as pl
import pytest

from curation.config import SensitiveConfig, WindowConfig
from curation.stages.dedup import flag_exact_duplicates
from curation.stages.sensitive import flag_sensitive
from curation.stages.window import flag_out_of_scope
from storage.exclusions import DETAIL, REASON
from tests.conftest import posts

WINDOW = WindowConfig(start=date(2021, 2, 1), end=date(2021, 10, 31))


def test_window_is_inclusive_of_whole_days() -> None:
    frame = posts(
        {"post_id": 1, "created_at": "2021-01-31T23:59:59.999Z"},
        {"post_id": 2, "created_at": "2021-02-01T00:00:00.000Z"},
        {"post_id": 3, "created_at": "2021-10-31T23:59:59.999Z"},
        {"post_id": 4, "created_at": "2021-11-01T00:00:00.000Z"},
    )
    out = flag_out_of_scope(frame.lazy(), WINDOW).collect()
    assert out[REASON].to_list() == ["before_window", None, None, "after_window"]


def test_duration_bounds_are_inclusive() -> None:
    frame = posts(
        *({"post_id": i, "duration_s": d} for i, d in enumerate([4.49, 4.5, 116.0, 116.01]))
    )
    out = flag_out_of_scope(frame.lazy(), WINDOW).collect()
    assert out[REASON].to_list() == ["too_short", None, None, "too_long"]


def test_sensitive_signals() -> None:
    cfg = SensitiveConfig(
        max_report_count=5, blocked_moderation_labels=["adult"], caption_terms=["gore", "आत्महत्या"]
    )
    frame = posts(
        {"post_id": 1},
        {"post_id": 2, "report_count": 6},
        {"post_id": 3, "report_count": 5},
        {"post_id": 4, "moderation_label": "adult"},
        {"post_id": 5, "moderation_label": "spam"},
        {"post_id": 6, "caption": "दोस्त आत्महत्या गाना"},
        {"post_id": 7, "hashtags": "#viral #GORE"},
        {"post_id": 8, "caption": "gorecki symphony"},  # a word that merely starts with a term
    )
    out = flag_sensitive(
        frame.with_columns(media_sha256=pl.col("post_id").cast(pl.String)).lazy(), cfg
    ).collect()
    assert out[REASON].to_list() == [
        None,
        "reported",
        None,
        "moderation:adult",
        None,
        "sensitive_term",
        "sensitive_term",
        None,
    ]


def test_sensitive_with_no_terms_uses_only_signals() -> None:
    cfg = SensitiveConfig(caption_terms=[])
    out = flag_sensitive(posts({"caption": "gore"}).lazy(), cfg).collect()
    assert out[REASON].to_list() == [None]


def test_duplicates_keep_highest_engagement_then_earliest_then_lowest_id() -> None:
    frame = posts(
        {"post_id": 10, "media_sha256": "a", "created_at": "2021-05-01T00:00:00.000Z"},
        {"post_id": 11, "media_sha256": "a", "created_at": "2021-04-01T00:00:00.000Z"},
        {"post_id": 12, "media_sha256": "a", "created_at": "2021-04-01T00:00:00.000Z"},
        {"post_id": 13, "media_sha256": "b"},
        {"post_id": 14, "media_sha256": "c", "created_at": "2021-04-01T00:00:00.000Z"},
        {"post_id": 15, "media_sha256": "c", "created_at": "2021-05-01T00:00:00.000Z"},
    ).with_columns(engagement_score=pl.Series([1.0, 1.0, 1.0, 1.0, 1.0, 9.0]))
    out = flag_exact_duplicates(frame.lazy()).collect().sort("post_id")
    assert out[REASON].to_list() == [
        "duplicate_media",
        None,
        "duplicate_media",
        None,
        "duplicate_media",
        None,
    ]
    assert out[DETAIL].to_list() == ["11", None, "11", None, "15", None]


@pytest.mark.parametrize(
    "caption",
    ["nsfw-content", "'nsfw'", '"gore"', "[nsfw]", "gore…", "x/nsfw", "यह आत्महत्या।", "NSFW!"],
)
def test_terms_match_next_to_any_punctuation(caption: str) -> None:
    cfg = SensitiveConfig(caption_terms=["nsfw", "gore", "आत्महत्या"])
    out = flag_sensitive(posts({"caption": caption}).lazy(), cfg).collect()
    assert out[REASON].to_list() == ["sensitive_term"]


@pytest.mark.parametrize("caption", ["gorecki", "nsfwx", "आत्महत्याएँ", "engore"])
def test_terms_do_not_match_inside_words(caption: str) -> None:
    cfg = SensitiveConfig(caption_terms=["nsfw", "gore", "आत्महत्या"])
    out = flag_sensitive(posts({"caption": caption}).lazy(), cfg).collect()
    assert out[REASON].to_list() == [None]


def test_a_clean_copy_of_flagged_media_is_flagged_too() -> None:
    cfg = SensitiveConfig(blocked_moderation_labels=["adult"])
    frame = posts(
        {"post_id": 1, "media_sha256": "m1", "moderation_label": "adult"},
        {"post_id": 2, "media_sha256": "m1"},  # the same bytes, re-uploaded with a clean caption
        {"post_id": 3, "media_sha256": "m2"},
    )
    out = flag_sensitive(frame.lazy(), cfg).collect()
    assert out[REASON].to_list() == ["moderation:adult", "sensitive_media_copy", None]
    assert out[DETAIL].to_list() == [None, "1", None]


def test_flagged_media_outside_the_window_still_marks_its_copies() -> None:
    cfg = SensitiveConfig(max_report_count=5)
    everything = posts(
        {"post_id": 1, "media_sha256": "m1", "report_count": 50},
        {"post_id": 2, "media_sha256": "m1"},
    )
    in_scope = everything.filter(pl.col("post_id") == 2)
    out = flag_sensitive(in_scope.lazy(), cfg, reference=everything.lazy()).collect()
    assert out[REASON].to_list() == ["sensitive_media_copy"]
