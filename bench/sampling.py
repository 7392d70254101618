"""Engagement sampling at platform scale: a 50M-post export → a 1.5M candidate pool.

Steps (each its own process): make the export (cached in bench/data), ingest it (validation +
engagement score → posts_valid), then the measured step: the flow's sampling stage exactly as
`curate` runs it (keys → quotas → top-k per language × month → pool + exclusions on disk).
Target (issue 2): ≤ 30 s wall, ≤ 3 GB peak RSS.

    make bench-sampling             # or: uv run python -m bench.sampling [--posts N]
"""

from __future__ import annotations

import argparse

from bench.common import DATA, emit, measure, write_result

POOL = 1_500_000


def step(name: str, posts: int) -> None:
    import polars as pl

    from curation.annotations.taxonomy import languages
    from curation.config import CurateConfig, EngagementConfig, SamplingConfig
    from curation.curate import sample_pool
    from curation.stages.engagement import score_engagement
    from curation.stages.ingest import flag_invalid_posts, scan_posts
    from storage.runs import CurationRun
    from storage.tables import count_rows, write_flagged
    from synth.export import synthesize_export

    export = DATA / f"export-{posts}"
    work = DATA / f"sampling-{posts}"
    if name == "synth":
        synthesize_export(export, posts, seed=50)
    elif name == "ingest":
        (work / "exclusions").mkdir(parents=True, exist_ok=True)
        flagged = score_engagement(
            flag_invalid_posts(scan_posts(export), languages()), EngagementConfig()
        )
        counts = write_flagged(
            flagged,
            "ingest",
            work / "posts_valid.parquet",
            work / "exclusions" / "ingest.parquet",
            input_rows=count_rows(sorted((export / "posts").glob("*.parquet"))),
        )
        emit({"rows_in": counts.input, "rows_kept": counts.kept})
    elif name == "sample":
        config = CurateConfig(sampling=SamplingConfig(pool_size=POOL))
        counts = sample_pool(config, "posts_valid", CurationRun(work))
        strata = pl.read_parquet(work / "quotas.parquet")
        emit(
            {
                "rows_in": counts.input,
                "pool": counts.kept,
                "excluded": counts.excluded,
                "strata": strata.height,
                "balanced": counts.balanced,
            }
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--posts", type=int, default=50_000_000)
    parser.add_argument("--step", choices=["synth", "ingest", "sample"])
    args = parser.parse_args()
    if args.step:
        step(args.step, args.posts)
        return
    export = DATA / f"export-{args.posts}"
    figures = {}
    if not (export / "opt_out_requests.csv").is_file():
        figures["synth"] = measure("bench.sampling", "--step", "synth", "--posts", str(args.posts))
    figures["ingest"] = measure("bench.sampling", "--step", "ingest", "--posts", str(args.posts))
    figures["sample"] = measure("bench.sampling", "--step", "sample", "--posts", str(args.posts))
    s = figures["sample"]
    write_result(
        "sampling",
        {
            "posts": args.posts,
            "pool": POOL,
            "steps": figures,
            "target": {"wall_s": 30, "peak_rss_mb": 3072},
            "met": {"wall": s["wall_s"] <= 30, "rss": s["peak_rss_mb"] <= 3072},
        },
    )


if __name__ == "__main__":
    main()
