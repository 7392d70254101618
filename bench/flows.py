"""`curate` + `release` at paper scale: a 1.5M candidate pool → 55K shortlist + companions.

The export has 2.5M posts, so that ~1.9M survive validation, scope, screening and dedup and
sampling draws a 1.5M pool from them. Each flow runs in its own process twice: as a Prefect flow
(what `massiv curate` does: a temporary Prefect server starts with it) and as the plain function
under it (`flow.fn`), so Prefect's share is visible. No video decoding. Target (issue 2):
curate + release ≤ 90 s wall, ≤ 4 GB peak RSS.

    make bench-flows                # or: uv run python -m bench.flows
"""

from __future__ import annotations

import argparse
import shutil

from bench.common import DATA, emit, measure, write_result

POSTS = 2_500_000


def configs():  # type: ignore[no-untyped-def]
    from curation.config import CurateConfig, ReleaseConfig, SamplingConfig, ShortlistConfig

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
    from curation.synth import synthesize_export
    from flows.cli import _annotations
    from flows.curate import curate
    from flows.release import release
    from privacy.keys import create_key_file

    curate_cfg, release_cfg = configs()
    if name == "synth":
        synthesize_export(curate_cfg.export_dir, POSTS, seed=25)
    elif name in ("curate", "curate_plain"):
        result = curate(curate_cfg) if name == "curate" else curate.fn(curate_cfg)
        emit({"pool": result.pool, "shortlist": result.shortlist, "companion": result.companion})
    elif name == "annotate":
        _annotations(curate_cfg.output_dir, release_cfg.annotations_dir, seed=25)
        create_key_file(release_cfg.key_file)
    elif name in ("release", "release_plain"):
        shutil.rmtree(release_cfg.store, ignore_errors=True)
        result = release(release_cfg) if name == "release" else release.fn(release_cfg)
        emit({"labeled": result.counts["labeled"], "unlabeled": result.counts["unlabeled"]})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--step")
    args = parser.parse_args()
    if args.step:
        step(args.step)
        return
    curate_cfg, _ = configs()
    steps = {}
    if not (curate_cfg.export_dir / "opt_out_requests.csv").is_file():
        steps["synth"] = measure("bench.flows", "--step", "synth")
    for name in ("curate_plain", "curate", "annotate", "release_plain", "release"):
        steps[name] = measure("bench.flows", "--step", name)
    total = steps["curate"]["wall_s"] + steps["release"]["wall_s"]
    rss = max(steps["curate"]["peak_rss_mb"], steps["release"]["peak_rss_mb"])
    write_result(
        "flows",
        {
            "posts": POSTS,
            "steps": steps,
            "curate_plus_release": {"wall_s": round(total, 2), "peak_rss_mb": rss},
            "prefect_share_s": {
                "curate": round(steps["curate"]["wall_s"] - steps["curate_plain"]["wall_s"], 2),
                "release": round(steps["release"]["wall_s"] - steps["release_plain"]["wall_s"], 2),
            },
            "target": {"wall_s": 90, "peak_rss_mb": 4096},
            "met": {"wall": total <= 90, "rss": rss <= 4096},
        },
    )


if __name__ == "__main__":
    main()
