"""Krippendorff's alpha for nominal labels, from (unit, label) rows: one row per coder's label.

alpha = 1 − (n − 1) · Σ_u (m_u² − Σ_c n_uc²)/(m_u − 1) / (n² − Σ_c n_c²), over units with at
least two labels (m_u labels in unit u, n_uc of label c; n and n_c the pairable totals).
"""

from __future__ import annotations

import polars as pl


def nominal_alpha(labels: pl.DataFrame, unit: str = "unit", value: str = "label") -> float:
    """Alpha over all units; NaN when no unit has two labels or all labels are the same."""
    per_value = labels.drop_nulls(value).group_by(unit, value).len("n_uc")
    per_unit = (
        per_value.group_by(unit)
        .agg(pl.col("n_uc").sum().alias("m"), (pl.col("n_uc") ** 2).sum().alias("sq"))
        .filter(pl.col("m") >= 2)
    )
    if per_unit.is_empty():
        return float("nan")
    observed = per_unit.select(((pl.col("m") ** 2 - pl.col("sq")) / (pl.col("m") - 1)).sum()).item()
    n_c = (
        per_value.join(per_unit.select(unit), on=unit)
        .group_by(value)
        .agg(pl.col("n_uc").sum())["n_uc"]
    )
    n = float(n_c.sum())
    expected = n * n - float((n_c.cast(pl.Float64) ** 2).sum())
    if expected == 0:
        return float("nan")
    return 1.0 - (n - 1.0) * observed / expected
