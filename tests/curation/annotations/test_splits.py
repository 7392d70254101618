import numpy as np
import polars as pl
import pytest

from curation.annotations.splits import SPLITS, assign_splits, split_report


def posts(n: int = 6_000, seed: int = 1) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    concept_p = np.r_[np.full(4, 0.15), np.full(20, 0.4 / 20)]
    return pl.DataFrame(
        {
            "post_id": np.arange(n),
            # Most creators post a few videos; 1 in 10 videos is by one of 20 prolific creators.
            "creator_id": np.where(
                rng.random(n) < 0.1, rng.integers(0, 20, n), rng.integers(20, 2_000, n)
            ).astype(np.int64),
            "concept": rng.choice([f"c{i}" for i in range(24)], n, p=concept_p),
            "language": rng.choice(["hi", "ta", "bn", "en"], n, p=[0.5, 0.2, 0.2, 0.1]),
        }
    )


def test_splits_are_creator_disjoint_stratified_and_deterministic() -> None:
    data = posts()
    out = assign_splits(data, (0.6, 0.2, 0.2), seed=7)
    assert out.group_by("creator_id").agg(pl.col("split").n_unique())["split"].max() == 1
    assert out.equals(assign_splits(data, (0.6, 0.2, 0.2), seed=7))
    report = split_report(out)
    overall = report.filter(pl.col("stratum") == "all").row(0, named=True)
    assert overall["train"] == pytest.approx(0.6, abs=0.01)
    assert overall["test"] == pytest.approx(0.2, abs=0.01)
    # Every concept and language with at least 500 videos lands within 3 points of 60/20/20.
    big = report.filter((pl.col("stratum") != "all") & (pl.col("videos") >= 500))
    assert big.height >= 6
    for row in big.iter_rows(named=True):
        assert row["train"] == pytest.approx(0.6, abs=0.03), row
        assert row["validation"] == pytest.approx(0.2, abs=0.03), row


def test_the_greedy_deal_beats_a_creator_hash_split() -> None:
    from curation.hashing import uniform_from_id

    data = posts(seed=3)
    dealt = split_report(assign_splits(data, (0.6, 0.2, 0.2), seed=7))
    u = uniform_from_id(pl.col("creator_id"), 7)
    hashed = split_report(
        data.with_columns(
            split=pl.when(u < 0.6)
            .then(pl.lit("train"))
            .when(u < 0.8)
            .then(pl.lit("validation"))
            .otherwise(pl.lit("test"))
        )
    )

    def worst(report: pl.DataFrame) -> float:
        return float((report.filter(pl.col("videos") >= 100)["train"] - 0.6).abs().max())  # type: ignore[arg-type]

    assert worst(dealt) < worst(hashed) / 2


def test_creators_of_the_parent_keep_their_split() -> None:
    data = posts()
    first = assign_splits(data, (0.6, 0.2, 0.2), seed=7)
    previous = first.select("creator_id", "split").unique()
    # A patch: some creators opted out, new ones arrived.
    gone = set(previous["creator_id"].head(50).to_list())
    newcomers = posts(800, seed=9).with_columns(pl.col("creator_id") + 10_000)
    patch = pl.concat([data.filter(~pl.col("creator_id").is_in(list(gone))), newcomers])
    second = assign_splits(patch, (0.6, 0.2, 0.2), seed=7, previous=previous)
    kept = second.join(previous, on="creator_id", suffix="_before")
    assert kept.height > 0 and (kept["split"] == kept["split_before"]).all()
    assert set(second["split"].unique()) <= set(SPLITS)
