"""`curate` + `release` at paper scale: a 1.5M candidate pool → 55K shortlist + companions.

The export has 2.5M posts, so that ~1.9M survive validation, scope, screening and dedup and
sampling draws a 1.5M pool from them. One process runs curate, the simulated annotation, and
release, as `massiv demo` does, timing each flow inside; the first flow's time includes starting
Prefect's temporary server (bench/prefect_overhead.py measures that and the per-run overhead
alone). No video decoding. Target (issue 2): curate + release ≤ 90 s wall, ≤ 4 GB peak RSS.

    make bench-flows                # or: uv run python -m bench.flows
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from bench.common import DATA, emit, measure, write_result
from curation.config import CurateConfig, ReleaseConfig, SamplingConfig, ShortlistConfig

POSTS = 2_500_000


def configs() -> tuple[CurateConfig, ReleaseConfig]:

    base = DATA / "flows"
    curate = CurateConfig(
        export_dir=DATA / f"export-{POSTS}",
        output_dir=base / "curation",
        sampling=SamplingConfig(pool_size=1_500_000),
        shortlist=ShortlistConfig(size=55_000, companion_size=100_000, companion_per_creator=10),
    )
    release = ReleaseConfig(
        curation_dir=base / "curation",
        annotations_dir=base / "annotations",
        store=base / "releases",
        key_file=base / "bench.key",
    )
    return curate, release


def step(name: str) -> None:
    import time

    from flows.cli.synth import _annotations
    from flows.curate import curate
    from flows.release import release
    from privacy.keys import create_key_file
    from synth.export import synthesize_export

    curate_cfg, release_cfg = configs()
    if name == "synth":
        synthesize_export(Path(curate_cfg.export_dir), POSTS, seed=25)
        return
    shutil.rmtree(release_cfg.store, ignore_errors=True)
    start = time.perf_counter()
    curated = curate(curate_cfg)
    curate_s = time.perf_counter() - start
    _annotations(Path(curate_cfg.output_dir), release_cfg.annotations_dir, seed=25)
    assert release_cfg.key_file is not None
    create_key_file(release_cfg.key_file)
    start = time.perf_counter()
    released = release(release_cfg)
    release_s = time.perf_counter() - start
    emit(
        {
            "curate_s": round(curate_s, 2),
            "release_s": round(release_s, 2),
            "pool": curated.pool,
            "shortlist": curated.shortlist,
            "companion": curated.companion,
            "labeled": released.counts["labeled"],
            "unlabeled": released.counts["unlabeled"],
            "funnel": [c.as_dict() for c in curated.funnel],
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--step")
    args = parser.parse_args()
    if args.step:
        step(args.step)
        return
    curate_cfg, _ = configs()
    steps = {}
    if not (Path(curate_cfg.export_dir) / "opt_out_requests.csv").is_file():
        steps["synth"] = measure("bench.flows", "--step", "synth")
    run = measure("bench.flows", "--step", "pipeline")
    total = run["curate_s"] + run["release_s"]
    write_result(
        "flows",
        {
            "posts": POSTS,
            "steps": steps,
            "pipeline": run,
            "curate_plus_release": {"wall_s": round(total, 2), "peak_rss_mb": run["peak_rss_mb"]},
            "target": {"wall_s": 90, "peak_rss_mb": 4096},
            "met": {"wall": total <= 90, "rss": run["peak_rss_mb"] <= 4096},
        },
    )


if __name__ == "__main__":
    main()
