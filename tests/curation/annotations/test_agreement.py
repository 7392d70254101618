import krippendorff
import numpy as np
import polars as pl
import pytest

from curation.annotations.vote import nominal_alpha

# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", section C: 4 coders,
# 12 units, missing values; nominal alpha = 0.743.
WORKED_EXAMPLE = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],
    [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None],
]


def to_rows(matrix: list[list[int | None]] | np.ndarray) -> pl.DataFrame:
    rows = [
        {"unit": u, "label": v}
        for coder in matrix
        for u, v in enumerate(coder)
        if v is not None and not (isinstance(v, float) and np.isnan(v))
    ]
    return pl.DataFrame(rows, schema={"unit": pl.Int64, "label": pl.Int64})


def test_worked_example() -> None:
    assert nominal_alpha(to_rows(WORKED_EXAMPLE)) == pytest.approx(0.743, abs=5e-4)


@pytest.mark.parametrize("seed", range(5))
def test_matches_the_krippendorff_package_on_random_data(seed: int) -> None:
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 6, size=(4, 60)).astype(float)
    data[rng.random(data.shape) < 0.2] = np.nan
    expected = krippendorff.alpha(reliability_data=data, level_of_measurement="nominal")
    assert nominal_alpha(to_rows(data)) == pytest.approx(expected, abs=1e-9)


def test_perfect_agreement_is_one() -> None:
    assert nominal_alpha(to_rows([[1, 2, 3, 1], [1, 2, 3, 1]])) == pytest.approx(1.0)


def sql_agreement(matrix: list[list[int | None]] | np.ndarray, language: list[str]) -> pl.DataFrame:
    """The agreement mart over a coders × units matrix, as if task 't' had labels 0…9."""
    import duckdb

    from curation.sql import build_table

    rows = [
        {"annotator_id": f"c{c}", "post_id": u, "task": "t", "label": str(int(v)), "reason": None}
        for c, coder in enumerate(matrix)
        for u, v in enumerate(coder)
        if v is not None and not (isinstance(v, float) and np.isnan(v))
    ]
    con = duckdb.connect()
    con.register(
        "annotations_checked",
        pl.DataFrame(rows, schema_overrides={"reason": pl.String}).to_arrow(),
    )
    con.register(
        "shortlist",
        pl.DataFrame({"post_id": range(len(language)), "language": language}).to_arrow(),
    )
    con.register(
        "taxonomy_labels",
        pl.DataFrame({"taxonomy": "t", "label": [str(i) for i in range(10)]}).to_arrow(),
    )
    build_table(con, "agreement")
    return con.sql("select * from agreement").pl()


def alpha_of(table: pl.DataFrame, scope: str, level: str) -> float:
    row = table.filter((pl.col("scope") == scope) & (pl.col("level") == level))
    return float(row["alpha"].item())


def test_the_sql_mart_gives_the_worked_example() -> None:
    table = sql_agreement(WORKED_EXAMPLE, ["x"] * 12)
    assert alpha_of(table, "taxonomy", "") == pytest.approx(0.743, abs=5e-4)
    assert alpha_of(table, "language", "x") == pytest.approx(0.743, abs=5e-4)


@pytest.mark.parametrize("seed", range(3))
def test_the_sql_mart_matches_the_package_per_taxonomy_label_and_language(seed: int) -> None:
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 4, size=(3, 80)).astype(float)
    data[:, :40] = np.where(rng.random((3, 40)) < 0.6, data[0, :40], data[:, :40])  # agreement
    data[rng.random(data.shape) < 0.15] = np.nan
    language = ["hi" if u % 3 else "ta" for u in range(80)]
    table = sql_agreement(data, language)

    def package(d: np.ndarray) -> float:
        return float(krippendorff.alpha(reliability_data=d, level_of_measurement="nominal"))

    assert alpha_of(table, "taxonomy", "") == pytest.approx(package(data), abs=1e-9)
    for label in range(4):  # one-vs-rest: says this label or not
        binary = np.where(np.isnan(data), np.nan, (data == label).astype(float))
        assert alpha_of(table, "label", str(label)) == pytest.approx(package(binary), abs=1e-9)
    hindi = [u for u in range(80) if language[u] == "hi"]
    assert alpha_of(table, "language", "hi") == pytest.approx(package(data[:, hindi]), abs=1e-9)
