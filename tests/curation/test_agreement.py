import krippendorff
import numpy as np
import polars as pl
import pytest

from curation.agreement import nominal_alpha

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
