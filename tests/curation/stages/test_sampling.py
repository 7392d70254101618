import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from curation.config import SamplingConfig
from curation.stages.sampling import allocate_quotas, sample_by_engagement
from storage.exclusions import REASON, split_flagged
from tests.conftest import posts


def strata(rows: list[tuple[str, str, int]]) -> pl.DataFrame:
    return pl.DataFrame(
        rows,
        schema={"language": pl.String, "month": pl.String, "available": pl.Int64},
        orient="row",
    )


def quota_map(frame: pl.DataFrame) -> dict[tuple[str, str], int]:
    return {(r["language"], r["month"]): r["quota"] for r in frame.iter_rows(named=True)}


def test_proportional_quotas() -> None:
    out = allocate_quotas(
        strata([("hi", "2021-02", 600), ("hi", "2021-03", 200), ("ta", "2021-02", 200)]), 100, {}
    )
    assert quota_map(out) == {("hi", "2021-02"): 60, ("hi", "2021-03"): 20, ("ta", "2021-02"): 20}


def test_language_shares_and_caps_redistribute() -> None:
    # Tamil asks for half the pool but has only 10; the rest goes to Hindi.
    out = allocate_quotas(strata([("hi", "2021-02", 500), ("ta", "2021-02", 10)]), 100, {"ta": 0.5})
    assert quota_map(out) == {("hi", "2021-02"): 90, ("ta", "2021-02"): 10}


@pytest.mark.parametrize(
    ("shares", "expected"),
    [
        ({"ta": 0.0}, {("hi", "2021-02"): 50, ("ta", "2021-02"): 0, ("te", "2021-02"): 50}),
        ({"hi": 1.0}, {("hi", "2021-02"): 50, ("ta", "2021-02"): 0, ("te", "2021-02"): 0}),
    ],
)
def test_a_language_without_a_share_gets_nothing(
    shares: dict[str, float], expected: dict[tuple[str, str], int]
) -> None:
    frame = strata([("hi", "2021-02", 50), ("ta", "2021-02", 500), ("te", "2021-02", 50)])
    assert quota_map(allocate_quotas(frame, 100, shares)) == expected


def test_pool_larger_than_input_takes_everything() -> None:
    out = allocate_quotas(strata([("hi", "2021-02", 5), ("ta", "2021-03", 3)]), 1000, {})
    assert out["quota"].to_list() == [5, 3]


@given(
    sizes=st.lists(st.integers(0, 500), min_size=1, max_size=12),
    pool=st.integers(1, 3000),
    ta_share=st.none() | st.sampled_from([0.0, 1.0]) | st.floats(0, 1),
)
def test_quotas_sum_to_the_pool_and_respect_capacity(
    sizes: list[int], pool: int, ta_share: float | None
) -> None:
    langs = ["hi", "ta", "te"]
    frame = strata([(langs[i % 3], f"2021-{i // 3 + 2:02d}", n) for i, n in enumerate(sizes)])
    out = allocate_quotas(frame, pool, {} if ta_share is None else {"ta": ta_share})
    # Languages with a share: Tamil if its share is positive; the others if any share is left.
    has_share = {
        "ta": ta_share is None or ta_share > 0,
        "hi": ta_share is None or ta_share < 1,
        "te": ta_share is None or ta_share < 1,
    }
    with_share = out.filter(pl.col("language").replace_strict(has_share, return_dtype=pl.Boolean))
    assert out["quota"].sum() == min(pool, with_share["available"].sum())
    assert (out["quota"] <= out["available"]).all() and (out["quota"] >= 0).all()


def engaged_posts(n: int) -> pl.DataFrame:
    rows = [
        {
            "post_id": i + 1,
            "language": "hi" if i % 3 else "ta",
            "created_at": f"2021-0{2 + i % 3}-10T00:00:00.000Z",
        }
        for i in range(n)
    ]
    return posts(*rows).with_columns(
        engagement_score=(pl.col("post_id") % 17).cast(pl.Float64) ** 2
    )


def test_sample_size_and_strata() -> None:
    flagged, quotas = sample_by_engagement(
        engaged_posts(300).lazy(), SamplingConfig(pool_size=60), 1.0
    )
    kept, excluded = split_flagged(flagged, "sampling")
    kept_df = kept.collect()
    assert kept_df.height == 60 and excluded.collect().height == 240
    got = (
        kept_df.with_columns(month=pl.col("created_ts").dt.strftime("%Y-%m"))
        .group_by("language", "month")
        .len()
        .rename({"len": "quota"})
    )
    assert quota_map(got) == quota_map(quotas.filter(pl.col("quota") > 0))


def test_popular_posts_are_sampled_more_often() -> None:
    frame = engaged_posts(400)
    hits = pl.Series([0] * 400)
    for seed in range(40):
        flagged, _ = sample_by_engagement(
            frame.lazy(), SamplingConfig(pool_size=40, seed=seed), 1.0
        )
        chosen = flagged.collect().sort("post_id")[REASON].is_null()
        hits += chosen.cast(pl.Int64)
    score = frame.sort("post_id")["engagement_score"]
    popular, unpopular = hits.filter(score >= 144), hits.filter(score <= 4)
    assert float(popular.sum()) / popular.len() > 5 * float(unpopular.sum()) / unpopular.len()


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32), perm_seed=st.integers(0, 1000), pool=st.integers(1, 80))
def test_sample_is_a_function_of_input_and_seed(seed: int, perm_seed: int, pool: int) -> None:
    frame = engaged_posts(120)
    cfg = SamplingConfig(pool_size=pool, seed=seed)

    def chosen(f: pl.DataFrame) -> list[int]:
        flagged, _ = sample_by_engagement(f.lazy(), cfg, 1.0)
        return sorted(flagged.filter(pl.col(REASON).is_null()).collect()["post_id"].to_list())

    assert chosen(frame) == chosen(frame.sample(fraction=1.0, shuffle=True, seed=perm_seed))


def test_another_seed_draws_another_sample() -> None:
    frame = engaged_posts(300)
    draws = {
        tuple(
            sorted(
                sample_by_engagement(frame.lazy(), SamplingConfig(pool_size=30, seed=s), 0.0)[0]
                .filter(pl.col(REASON).is_null())
                .collect()["post_id"]
                .to_list()
            )
        )
        for s in (1, 2)
    }
    assert len(draws) == 2


@pytest.mark.parametrize("power", [0.0, 1.0, 2.0])
def test_every_row_is_kept_or_excluded(power: float) -> None:
    flagged, _ = sample_by_engagement(engaged_posts(50).lazy(), SamplingConfig(pool_size=7), power)
    kept, excluded = split_flagged(flagged, "sampling")
    assert kept.collect().height + excluded.collect().height == 50


def test_ties_at_the_threshold_are_cut_exactly_by_post_id() -> None:
    from curation.stages.sampling import choose_sampled

    keys = pl.DataFrame(
        {
            "post_id": [5, 4, 3, 2, 1, 9, 8],
            "stratum": [1, 1, 1, 1, 1, 2, 2],
            "sampling_key": [-0.1, -0.5, -0.5, -0.5, -0.9, -0.2, -0.3],
        },
        schema_overrides={"stratum": pl.Int32},
    )
    quotas = pl.DataFrame(
        {"stratum": [1, 2, 3], "quota": [3, 5, 0]}, schema_overrides={"stratum": pl.Int32}
    )
    assert choose_sampled(keys, quotas).to_list() == [2, 3, 5, 8, 9]


def test_an_empty_input_gives_an_empty_pool() -> None:
    empty = posts({}).clear().with_columns(engagement_score=pl.lit(1.0))
    flagged, quotas = sample_by_engagement(empty.lazy(), SamplingConfig(pool_size=5), 1.0)
    assert flagged.collect().height == 0 and quotas.height == 0
