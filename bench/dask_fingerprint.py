"""Fingerprinting throughput on Dask: the same clips with 1 worker and with 2 (LocalCluster).

Runs the `fingerprint` flow (Prefect + prefect-dask) on the benchmark corpus's clips, each time
into an empty store, so every clip is decoded; cluster start-up is included in the time, as a
scheduled run pays it. Target (issue 3): 2 workers ≥ 1.7× the throughput of 1.

    make bench-dask                 # or: uv run python -m bench.dask_fingerprint [--clips N]
"""

from __future__ import annotations

import argparse
import shutil
import time
from typing import Any

import polars as pl

from bench.common import DATA, write_result


def main() -> None:
    from curation.config import VideoConfig
    from flows.fingerprint import fingerprint_videos

    parser = argparse.ArgumentParser()
    parser.add_argument("--clips", type=int, default=820)
    parser.add_argument("--corpus", default="corpus-40-300")
    parser.add_argument("--batch", type=int, default=16)  # VideoConfig.batch_size
    args = parser.parse_args()
    root = DATA / args.corpus
    corpus = pl.read_parquet(root / "corpus.parquet").sort("clip_id").head(args.clips)
    items = corpus.select(
        pl.int_range(pl.len()).cast(pl.Int64).alias("post_id"),
        pl.col("clip_id").alias("media_sha256"),
        pl.col("path").alias("location"),
    )
    seconds = float(corpus["duration_s"].sum())
    runs: dict[str, dict[str, Any]] = {}
    throughput: dict[int, float] = {}
    for workers in (1, 2):
        store = DATA / f"dask-store-{workers}"
        shutil.rmtree(store, ignore_errors=True)
        config = VideoConfig(
            media_root=str(root), store=store, workers=workers, batch_size=args.batch
        )
        start = time.perf_counter()
        result = fingerprint_videos(items, config)
        wall = time.perf_counter() - start
        throughput[workers] = result.fingerprinted / wall
        runs[f"{workers}_workers"] = {
            "wall_s": round(wall, 2),
            "clips": result.fingerprinted,
            "clips_per_s": round(result.fingerprinted / wall, 2),
            "video_seconds_per_s": round(seconds / wall, 1),
            "by_status": result.by_status,
        }
    speedup = throughput[2] / throughput[1]
    write_result(
        "dask_fingerprint",
        {
            "clips": items.height,
            "video_seconds": round(seconds, 1),
            "runs": runs,
            "speedup_2_over_1": round(speedup, 2),
            "target": 1.7,
            "met": speedup >= 1.7,
        },
    )


if __name__ == "__main__":
    main()
