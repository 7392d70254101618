"""Annotation marts at paper scale: gold gate + validation + vote + alpha on ≈825K labels.

55,000 shortlisted posts × 3 annotators × 5 taxonomies (plus the planted bad rows), a 100-post
gold set answered by all 95 candidate annotators, expert resolutions: made by the synthetic
annotator model (synth/annotations.py), then `vote_labels` runs the SQL marts in DuckDB. The timer
covers the marts only (inputs already in memory, as the release flow has them).
Target (issue 4): ≤ 10 s wall on 2 cores.

    make bench-annotations             # or: uv run python -m bench.annotations
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

from bench.common import emit, measure, write_result


def step(posts: int) -> None:
    from curation.annotations.vote import GoldSet, vote_labels
    from storage.runs import AnnotationsFolder
    from synth.annotations import synthesize_annotations
    from synth.export import LANGUAGE_SHARES

    rng = np.random.default_rng(4)
    ids = np.arange(1, 2 * posts + 1, dtype=np.int64)
    shares = np.array(list(LANGUAGE_SHARES.values()), dtype=float)
    language = pl.Series(rng.choice(list(LANGUAGE_SHARES), len(ids), p=shares / shares.sum()))
    everyone = pl.DataFrame({"post_id": ids, "language": language})
    shortlist, others = everyone.head(posts), everyone.tail(posts)
    with tempfile.TemporaryDirectory() as tmp:
        synthesize_annotations(shortlist, others, Path(tmp), seed=7)
        folder = AnnotationsFolder(Path(tmp))
        annotations = pl.read_parquet(folder.annotations)
        experts = pl.read_parquet(folder.expert_resolutions)
        gold = GoldSet(
            pl.read_parquet(folder.gold_labels), pl.read_parquet(folder.gold_annotations)
        )
    start = time.perf_counter()
    result = vote_labels(shortlist, annotations, experts, gold)
    wall = time.perf_counter() - start
    alpha = result.agreement.filter(pl.col("scope") == "taxonomy").select("task", "alpha")
    emit(
        {
            "labels": annotations.height,
            "posts": posts,
            "gate_vote_alpha_s": round(wall, 2),
            "labeled_posts": result.labels.height,
            "held_back": result.held_back.height,
            "rejected_rows": result.rejected,
            "annotators_failing_gold": int(
                result.gate.filter(~pl.col("passed"))["annotator_id"].n_unique()
            ),
            "alpha": {t: round(a, 3) for t, a in alpha.iter_rows()},
            "agreement_rows": result.agreement.height,
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--posts", type=int, default=55_000)
    parser.add_argument("--step", action="store_true")
    args = parser.parse_args()
    if args.step:
        step(args.posts)
        return
    run = measure("bench.annotations", "--step", "--posts", str(args.posts))
    write_result(
        "annotations",
        {
            "posts": args.posts,
            "run": run,
            "target": {"gate_vote_alpha_s": 10},
            "met": run["gate_vote_alpha_s"] <= 10,
        },
    )


if __name__ == "__main__":
    main()
