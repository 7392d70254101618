"""Figures for the bundle, from the released tables and the curation funnel (PNG, Agg backend).

- labels_<taxonomy>.png: label distribution per taxonomy (the paper's Figure 3);
- funnel.png: posts kept at each curation stage, from the export to the release;
- concept_affect.png: how affects distribute within each of the most common concepts;
- concept_trend.png: share of the most common concepts per week (the paper's Figure 8) or per
  month, whichever period the release's k-anonymity allowed.
Deterministic: no timestamps in the files (PNG metadata limited to the title).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import polars as pl

from curation.annotations.taxonomy import ANNOTATED_TASKS

TOP_CONCEPTS = 8
SMOOTH_WEEKS = 4


def _save(fig: Any, path: Path, title: str) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110, metadata={"Title": title, "Software": None})
    plt.close(fig)
    return path


def label_distribution(labeled: pl.DataFrame, task: str, path: Path) -> Path:
    counts = labeled.group_by(task).len().sort(["len", task], descending=[False, True])
    fig, ax = plt.subplots(figsize=(7, 0.8 + 0.24 * counts.height))
    ax.barh(counts[task].to_list(), counts["len"].to_list(), color="#4C72B0")
    ax.set_xlabel("labeled videos")
    ax.set_title(f"{task.replace('_', ' ')}: {labeled.height:,} videos")
    return _save(fig, path, f"label distribution: {task}")


def funnel(stages: list[dict[str, Any]], released: int, path: Path) -> Path:
    names = [s["stage"] for s in stages] + ["released"]
    kept = [s["kept"] for s in stages] + [released]
    start = stages[0]["input"] if stages else released
    fig, ax = plt.subplots(figsize=(7, 0.9 + 0.45 * (len(names) + 1)))
    labels = ["export", *names]
    values = [start, *kept]
    y = np.arange(len(labels))[::-1]
    ax.barh(y, values, color="#55A868")
    ax.set_yticks(y, labels)
    ax.set_xscale("log")
    for yi, v in zip(y, values, strict=True):
        ax.text(v, yi, f" {v:,}", va="center", fontsize=8)
    ax.set_xlabel("posts (log scale)")
    ax.set_title("curation funnel")
    ax.set_xlim(right=max(values) * 8)
    return _save(fig, path, "curation funnel")


def concept_affect(labeled: pl.DataFrame, path: Path) -> Path:
    top = labeled.group_by("concept").len().sort(["len", "concept"], descending=[True, False])
    concepts = top["concept"].head(TOP_CONCEPTS).to_list()
    affects = sorted(labeled["affect"].unique().to_list())
    table = np.zeros((len(concepts), len(affects)))
    for c, a, n in labeled.group_by("concept", "affect").len().iter_rows():
        if c in concepts:
            table[concepts.index(c), affects.index(a)] = n
    share = table / np.maximum(table.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(8, 1.2 + 0.45 * len(concepts)))
    image = ax.imshow(share, cmap="viridis", aspect="auto", vmin=0)
    ax.set_xticks(range(len(affects)), affects, rotation=45, ha="right")
    ax.set_yticks(range(len(concepts)), concepts)
    fig.colorbar(image, ax=ax, label="share of the concept's videos")
    ax.set_title("affect within the most common concepts")
    return _save(fig, path, "concept x affect")


def concept_trend(labeled: pl.DataFrame, path: Path) -> Path:
    # `published` is an ISO week, or a month when k-anonymity needed the coarser period.
    by_week = labeled.height > 0 and "-W" in labeled["published"][0]
    period, window = ("week", SMOOTH_WEEKS) if by_week else ("month", 1)
    weekly = labeled.group_by("published", "concept").len()
    totals = labeled.group_by("published").len("total")
    top = labeled.group_by("concept").len().sort(["len", "concept"], descending=[True, False])
    weeks = sorted(totals["published"].to_list())
    fig, ax = plt.subplots(figsize=(9, 4))
    for concept in top["concept"].head(6).to_list():
        # Counts over 4 weeks, then the share: a quiet week cannot make a spike.
        share = (
            pl.DataFrame({"published": weeks})
            .join(weekly.filter(pl.col("concept") == concept), on="published", how="left")
            .join(totals, on="published")
            .sort("published")  # joins do not keep row order; the window needs it
            .select(
                (
                    pl.col("len").fill_null(0).rolling_sum(window, min_samples=1)
                    / pl.col("total").rolling_sum(window, min_samples=1)
                ).alias("share")
            )["share"]
        )
        ax.plot(range(len(weeks)), share.to_list(), label=concept, linewidth=1.4)
    step = max(1, len(weeks) // 12)
    ax.set_xticks(range(0, len(weeks), step), weeks[::step], rotation=45, ha="right")
    ax.set_ylabel(f"share of the {period}'s labeled videos")
    smoothing = f" ({window}-{period} window)" if window > 1 else ""
    ax.set_title(f"share of the most common concepts, by {period}{smoothing}")
    ax.legend(fontsize=7, ncols=2)
    return _save(fig, path, "weekly concept trend")


def release_figures(
    labeled: pl.DataFrame, stages: list[dict[str, Any]], folder: Path
) -> list[Path]:
    """Write every figure into `folder`; returns the paths in a fixed order."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = [label_distribution(labeled, t, folder / f"labels_{t}.png") for t in ANNOTATED_TASKS]
    paths.append(funnel(stages, labeled.height, folder / "funnel.png"))
    paths.append(concept_affect(labeled, folder / "concept_affect.png"))
    paths.append(concept_trend(labeled, folder / "concept_trend.png"))
    return paths
