from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from privacy.kanon import (
    DEFAULT_LADDER,
    QI_COLUMNS,
    Generalisation,
    KAnonReport,
    check_k_anonymous,
    creator_bucket,
    generalise,
    k_anonymize,
    suppress_small_classes,
)

MON_W09 = datetime(2021, 3, 1, 10, tzinfo=UTC)  # Monday of ISO week 2021-W09
MON_W10 = datetime(2021, 3, 8, 10, tzinfo=UTC)


def internal(rows: list[tuple[str, str, str, datetime, float]]) -> pl.DataFrame:
    """Pre-release rows: (video_id, creator_id, language, created_ts, exact duration_s)."""
    return pl.DataFrame(
        rows,
        schema={
            "video_id": pl.String,
            "creator_id": pl.String,
            "language": pl.String,
            "created_ts": pl.Datetime("ms", "UTC"),
            "duration_s": pl.Float64,
        },
        orient="row",
    )


def released(rows: list[tuple[str, str, str, str, float]]) -> pl.DataFrame:
    """Released rows: (video_id, creator_id, language, published, duration_s)."""
    return pl.DataFrame(
        rows,
        schema=["video_id", "creator_id", "language", "published", "duration_s"],
        orient="row",
    )


def class_sizes(frame: pl.DataFrame) -> list[int]:
    """QI class sizes of a released frame, creator buckets counted from the frame itself."""
    bucketed = frame.with_columns(creator_bucket(pl.len().over("creator_id")).alias(QI_COLUMNS[3]))
    return bucketed.group_by(QI_COLUMNS).len()["len"].to_list()


def test_creator_bucket_edges() -> None:
    counts = pl.DataFrame({"n": [1, 2, 3, 4, 7, 8, 500]})
    buckets = counts.select(creator_bucket(pl.col("n")).alias("b"))["b"].to_list()
    assert buckets == ["1", "2-3", "2-3", "4-7", "4-7", "8+", "8+"]


def test_generalise_period_and_duration_floor() -> None:
    frame = internal(
        [
            ("v1", "c1", "hi", MON_W09, 4.7),  # below the first step → lower edge 0
            ("v2", "c1", "hi", MON_W09, 12.3),
            ("v3", "c2", "hi", datetime(2021, 1, 3, tzinfo=UTC), 15.0),  # ISO week of 2020
        ]
    )
    week = generalise(frame, Generalisation("week", 5))
    assert week["published"].to_list() == ["2021-W09", "2021-W09", "2020-W53"]
    assert week["duration_s"].to_list() == [2.5, 12.5, 17.5]  # bin middles
    assert week["duration_s"].dtype == pl.Float64
    assert week["creator_videos"].to_list() == ["2-3", "2-3", "1"]
    assert week["created_ts"].equals(frame["created_ts"])  # left for the caller to drop
    month = generalise(frame, Generalisation("month", 30))
    assert month["published"].to_list() == ["2021-03", "2021-03", "2021-01"]
    assert month["duration_s"].to_list() == [15.0, 15.0, 15.0]
    day = generalise(frame, Generalisation("day", 1))
    assert day["published"].to_list() == ["2021-03-01", "2021-03-01", "2021-01-03"]


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(ValueError, match="period"):
        Generalisation("year", 5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="duration_step_s"):
        Generalisation("week", 0)
    frame = internal([("v1", "c1", "hi", MON_W09, 20.0)])
    with pytest.raises(ValueError, match="k must"):
        k_anonymize(frame, k=0)
    with pytest.raises(ValueError, match="ladder"):
        k_anonymize(frame, ladder=())
    with pytest.raises(ValueError, match="max_suppressed_share"):
        k_anonymize(frame, max_suppressed_share=1.5)


def test_class_of_four_is_suppressed_with_k5() -> None:
    rows = [(f"h{i}", f"ch{i}", "hi", "2021-W09", 20.0) for i in range(5)]
    rows += [(f"t{i}", f"ct{i}", "ta", "2021-W09", 20.0) for i in range(4)]
    frame = released(rows)
    assert check_k_anonymous(frame, 5) == 4
    kept, suppressed = suppress_small_classes(frame, 5)
    assert suppressed == 4
    assert kept["video_id"].to_list() == [f"h{i}" for i in range(5)]
    assert kept.columns == frame.columns  # no internal bucket column leaks out
    assert check_k_anonymous(kept, 5) == 0
    assert check_k_anonymous(frame, 4) == 0


def tiny_release() -> pl.DataFrame:
    rows = [(f"vid_h{i}", f"cre_h{i}", "hi", MON_W09, 20.0 + i / 2) for i in range(5)]
    rows += [(f"vid_t{i}", f"cre_t{i}", "ta", MON_W09, 21.0) for i in range(4)]
    return internal(rows)


def test_report_is_exact_for_a_tiny_release() -> None:
    kept, report = k_anonymize(tiny_release(), k=5, max_suppressed_share=0.5)
    assert kept["video_id"].to_list() == [f"vid_h{i}" for i in range(5)]
    assert set(kept.columns) == {
        "video_id",
        "creator_id",
        "language",
        "created_ts",
        "duration_s",
        "published",
    }
    assert kept["published"].unique().to_list() == ["2021-W09"]
    assert kept["duration_s"].unique().to_list() == [22.5]
    assert report.as_dict() == {
        "k": 5,
        "level": {"period": "week", "duration_step_s": 5},
        "levels_tried": [
            {"period": "week", "duration_step_s": 5, "small_class_rows": 4, "suppressed_rows": 4}
        ],
        "rows_in": 9,
        "rows_suppressed": 4,
        "rows_kept": 5,
        "suppressed_share": round(4 / 9, 6),
        "suppression_rounds": 1,
        "classes": 1,
        "smallest_class": 5,
        "class_sizes": {"5-9": 1, "10-19": 0, "20-49": 0, "50+": 0},
    }


def test_report_holds_no_ids() -> None:
    frame = tiny_release()
    _, report = k_anonymize(frame, k=5)
    text = json.dumps(report.as_dict())
    assert "vid_" not in text and "cre_" not in text
    for value in [*frame["video_id"], *frame["creator_id"]]:
        assert value not in text


def test_escalates_from_week_to_month_when_weeks_are_too_fine() -> None:
    # Two weeks of March with 3 videos each: every week class is below k=5, the month is not.
    rows = [(f"a{i}", f"ca{i}", "hi", MON_W09 + timedelta(days=i), 21.0) for i in range(3)]
    rows += [(f"b{i}", f"cb{i}", "hi", MON_W10 + timedelta(days=i), 22.0) for i in range(3)]
    kept, report = k_anonymize(internal(rows), k=5)
    assert report.level == Generalisation("month", 15)
    assert [(t.period, t.duration_step_s, t.small_class_rows) for t in report.levels_tried] == [
        ("week", 5, 6),
        ("week", 15, 6),
        ("month", 15, 0),
    ]
    assert report.rows_suppressed == 0 and kept.height == 6
    assert kept["published"].unique().to_list() == ["2021-03"]
    assert kept["duration_s"].unique().to_list() == [22.5]


def test_coarsest_level_is_used_when_none_meets_the_share() -> None:
    rows = [(f"a{i}", f"ca{i}", "hi", MON_W09, 21.0) for i in range(5)]
    rows += [("lonely", "cl", "ta", MON_W09, 21.0)]
    kept, report = k_anonymize(internal(rows), k=5, max_suppressed_share=0.0)
    assert report.level == DEFAULT_LADDER[-1]
    assert len(report.levels_tried) == len(DEFAULT_LADDER)
    assert report.rows_suppressed == 1 and "lonely" not in kept["video_id"].to_list()


# Creator X has one video in a class of its own; suppressing it drops X to 1 video, which moves
# X's other video out of its class, leaving both it and its former partner (creator Y) alone;
# suppressing Y's video moves Y's last video away from creator Z's pair. Three rounds in all.
CASCADE = [
    ("x1", "X", "hi", 20.0),
    ("x2", "X", "ta", 20.0),
    ("y1", "Y", "hi", 20.0),
    ("y2", "Y", "hi", 40.0),
    ("z1", "Z", "hi", 40.0),
    ("z2", "Z", "hi", 40.0),
]


def test_suppression_iterates_over_creator_buckets() -> None:
    frame = released([(v, c, lang, "2021-W09", d) for v, c, lang, d in CASCADE])
    assert check_k_anonymous(frame, 2) == 1  # one pass alone would only find x2
    kept, suppressed = suppress_small_classes(frame, 2)
    assert kept["video_id"].to_list() == ["z1", "z2"]
    assert suppressed == 4
    assert check_k_anonymous(kept, 2) == 0


def test_k_anonymize_reports_the_cascade() -> None:
    frame = internal([(v, c, lang, MON_W09, d + 1) for v, c, lang, d in CASCADE])
    kept, report = k_anonymize(frame, k=2, max_suppressed_share=1.0)
    assert kept["video_id"].to_list() == ["z1", "z2"]
    assert report.levels_tried[0].small_class_rows == 1
    assert report.levels_tried[0].suppressed_rows == 4
    assert (report.rows_suppressed, report.suppression_rounds) == (4, 3)


def test_empty_frame() -> None:
    kept, report = k_anonymize(internal([]), k=5)
    assert kept.height == 0
    assert (report.rows_in, report.rows_suppressed, report.classes) == (0, 0, 0)
    assert report.smallest_class is None and report.level == DEFAULT_LADDER[0]


START = datetime(2021, 2, 1, tzinfo=UTC)

random_rows = st.lists(
    st.tuples(
        st.integers(0, 12),  # creator
        st.sampled_from(["hi", "ta", "bn"]),
        st.integers(0, 60 * 24 * 3600),  # seconds after START: Feb–Mar 2021
        st.floats(4.5, 116.0),
    ),
    max_size=80,
)


@settings(max_examples=60, deadline=None)
@given(
    rows=random_rows,
    k=st.integers(1, 6),
    share=st.sampled_from([0.0, 0.02, 0.2, 1.0]),
)
def test_output_is_k_anonymous(
    rows: list[tuple[int, str, int, float]], k: int, share: float
) -> None:
    frame = internal(
        [
            (f"v{i}", f"c{c}", lang, START + timedelta(seconds=s), d)
            for i, (c, lang, s, d) in enumerate(rows)
        ]
    )
    kept, report = k_anonymize(frame, k=k, max_suppressed_share=share)
    sizes = class_sizes(kept)
    assert all(size >= k for size in sizes)
    assert check_k_anonymous(kept, k) == 0
    assert report.rows_in == frame.height == kept.height + report.rows_suppressed
    assert set(kept["video_id"]) <= set(frame["video_id"])
    assert kept["video_id"].is_unique().all()
    assert report.classes == len(sizes) and sum(report.class_sizes.values()) == len(sizes)
    assert report.smallest_class == (min(sizes) if sizes else None)
    again, suppressed = suppress_small_classes(kept.drop("created_ts"), k)
    assert suppressed == 0 and again.height == kept.height  # stable: nothing left to remove


LANGUAGE_SHARES = {
    "hi": 0.30,
    "bn": 0.12,
    "ta": 0.10,
    "te": 0.10,
    "mr": 0.08,
    "kn": 0.07,
    "ml": 0.06,
    "gu": 0.06,
    "pa": 0.05,
    "or": 0.03,
    "bgc": 0.03,  # Haryanvi
}


def synthetic_release(n_rows: int, n_creators: int, seed: int) -> pl.DataFrame:
    """A random release of realistic shape: each creator posts in one language; the number of
    videos per creator is heavy-tailed (every creator has at least one)."""
    rng = np.random.default_rng(seed)
    weights = rng.pareto(1.2, n_creators) + 1e-3
    extra = rng.choice(n_creators, size=n_rows - n_creators, p=weights / weights.sum())
    creator = np.concatenate([np.arange(n_creators), extra])
    languages = list(LANGUAGE_SHARES)
    creator_language = rng.choice(len(languages), size=n_creators, p=list(LANGUAGE_SHARES.values()))
    start = int(START.timestamp() * 1000)
    end = int(datetime(2021, 11, 1, tzinfo=UTC).timestamp() * 1000)  # Feb–Oct 2021
    # Lognormal with mean exp(mu + sigma²/2) = 20 s.
    sigma = 0.6
    duration = rng.lognormal(np.log(20.0) - sigma**2 / 2, sigma, n_rows)
    return pl.DataFrame(
        {
            "video_id": [f"v{i:07d}" for i in range(n_rows)],
            "creator_id": [f"c{c:06d}" for c in creator],
            "language": [languages[i] for i in creator_language[creator]],
            "created_ts": pl.Series(rng.integers(start, end, n_rows)).cast(
                pl.Datetime("ms", "UTC")
            ),
            "duration_s": np.clip(duration, 4.5, 116.0),
        }
    )


def summary(name: str, report: KAnonReport, seconds: float) -> dict[str, Any]:
    figures = {
        "release": name,
        "rows_in": report.rows_in,
        "level": str(report.level),
        "levels_tried": [
            (f"{t.period}/{t.duration_step_s}s", t.small_class_rows, t.suppressed_rows)
            for t in report.levels_tried
        ],
        "suppressed_share": round(report.suppressed_share, 4),
        "rounds": report.suppression_rounds,
        "classes": report.classes,
        "class_sizes": report.class_sizes,
        "seconds": round(seconds, 3),
    }
    print(figures)
    return figures


def test_realistic_scale_figures() -> None:
    full = synthetic_release(155_000, 60_000, seed=1)
    hindi = full["language"].eq("hi").mean()
    assert isinstance(hindi, float) and 0.2 < hindi < 0.4
    started = time.perf_counter()
    kept, report = k_anonymize(full, k=5)
    seconds = time.perf_counter() - started
    summary("155K", report, seconds)
    assert report.level in DEFAULT_LADDER
    assert report.suppressed_share <= 0.02  # some level meets the 2 % budget at this size
    assert kept.height == report.rows_kept and check_k_anonymous(kept, 5) == 0
    assert seconds < 5.0  # typically well under a second; generous for loaded CI machines

    demo = synthetic_release(2_800, 1_000, seed=2)
    started = time.perf_counter()
    kept, report = k_anonymize(demo, k=5)
    summary("demo", report, time.perf_counter() - started)
    assert report.level in DEFAULT_LADDER
    assert 0.0 <= report.suppressed_share < 0.5
    assert check_k_anonymous(kept, 5) == 0
