"""Near-duplicate search at platform scale: 1.5M videos × ~20 frame hashes (≈30M hashes).

Synthetic bags: unrelated videos get random 64-bit frame hashes (and random mirrored hashes);
planted groups copy a base video with realistic edits of the bag — per-frame bit noise (re-encode,
crop, overlay: 1–8 bits), the first 3 frames trimmed, every 5th frame dropped or repeated (speed
change), or plain and mirrored hashes swapped (a flipped re-upload). Measures candidate search +
verification + clustering: wall time, peak RSS, candidate count, recall of the planted pairs,
false pairs between unrelated videos. Target (issue 3): ≤ 60 s wall, ≤ 6 GB peak RSS.

    make bench-neardup                  # or: uv run python -m bench.neardup_scale [--videos N]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import polars as pl

from bench.common import emit, measure, write_result

GROUPS_SHARE = 0.03  # share of videos that are bases of a planted group


def synthetic_bags(n_videos: int, seed: int = 3) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Frames (video, frame, h, hm) and the planted pairs (video_a < video_b) with their edit."""
    rng = np.random.default_rng(seed)
    n_frames = np.clip(rng.poisson(20, n_videos), 5, 60)
    n_groups = int(n_videos * GROUPS_SHARE / 3)
    # Group members are the last videos; each group has a base and 1–4 edited copies.
    sizes = rng.integers(2, 6, n_groups)
    members = int(sizes.sum())
    base_ids = rng.choice(n_videos - members, n_groups, replace=False)
    frames_h: list[np.ndarray] = [
        rng.integers(0, 2**64 - 1, n, dtype=np.uint64, endpoint=True) for n in n_frames
    ]
    frames_hm: list[np.ndarray] = [
        rng.integers(0, 2**64 - 1, n, dtype=np.uint64, endpoint=True) for n in n_frames
    ]
    edits = ["noise", "trim", "speed", "mirror"]
    planted = []
    next_id = n_videos - members
    for g in range(n_groups):
        base = int(base_ids[g])
        for _ in range(int(sizes[g]) - 1):
            edit = edits[int(rng.integers(0, len(edits)))]
            h, hm = frames_h[base].copy(), frames_hm[base].copy()
            if edit == "trim" and len(h) > 6:
                h, hm = h[3:], hm[3:]
            elif edit == "speed":
                keep = np.arange(len(h))
                keep = (
                    keep[keep % 5 != 4] if rng.random() < 0.5 else np.sort(np.r_[keep, keep[::5]])
                )
                h, hm = h[keep], hm[keep]
            elif edit == "mirror":
                h, hm = hm, h
            noise_bits = int(rng.integers(1, 9))  # this copy's typical distortion
            flips = rng.binomial(noise_bits * 2, 0.5, len(h))
            for arr in (h, hm):
                for i, k in enumerate(flips):
                    for b in rng.choice(64, int(k), replace=False):
                        arr[i] ^= np.uint64(1) << np.uint64(int(b))
            frames_h[next_id], frames_hm[next_id] = h, hm
            planted.append((min(base, next_id), max(base, next_id), edit, noise_bits))
            next_id += 1
    lengths = np.array([len(x) for x in frames_h])
    frames = pl.DataFrame(
        {
            "video": np.repeat(np.arange(n_videos, dtype=np.int32), lengths),
            "frame": np.concatenate([np.arange(n, dtype=np.int16) for n in lengths]),
            "h": np.concatenate(frames_h),
            "hm": np.concatenate(frames_hm),
        }
    )
    truth = pl.DataFrame(planted, schema=["video_a", "video_b", "edit", "noise_bits"], orient="row")
    return frames, truth


def step(n_videos: int, blocks: int, strict_bits: int) -> None:
    from curation.neardup import NearDupSettings, cluster_videos, find_near_duplicates

    frames, truth = synthetic_bags(n_videos)
    start = time.perf_counter()
    settings = NearDupSettings(blocks=blocks, strict_bits=strict_bits)
    result = find_near_duplicates(frames, settings)
    labels = cluster_videos(result.pairs, n_videos)
    wall = time.perf_counter() - start
    found = result.pairs.filter(pl.col("duplicate")).select("video_a", "video_b").unique()
    hit = truth.join(found, on=["video_a", "video_b"], how="semi")
    # Planted groups are the only true duplicates; a found pair outside them is false (pairs
    # between two edited copies of the same base are true too).
    group_of = np.arange(n_videos)
    for a, b in truth.select("video_a", "video_b").iter_rows():
        group_of[b] = group_of[a]
    fa, fb = found["video_a"].to_numpy(), found["video_b"].to_numpy()
    false_pairs = int(np.sum(group_of[fa] != group_of[fb]))
    per_edit = (
        truth.join(
            hit.with_columns(found=pl.lit(True)),
            on=["video_a", "video_b", "edit", "noise_bits"],
            how="left",
        )
        .group_by("edit")
        .agg(pl.col("found").fill_null(False).mean().alias("recall"))
        .sort("edit")
    )
    emit(
        {
            "frames": frames.height,
            "candidates": result.candidates,
            "verified_duplicates": found.height,
            "planted_pairs": truth.height,
            "recall": round(hit.height / max(truth.height, 1), 4),
            "recall_by_edit": dict(per_edit.iter_rows()),
            "false_pairs": false_pairs,
            "skipped_buckets": result.skipped_buckets,
            "clusters_with_duplicates": int(np.sum(np.bincount(labels) > 1)),
            "search_verify_cluster_s": round(wall, 2),
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--videos", type=int, default=1_500_000)
    parser.add_argument("--blocks", type=int, default=4)
    parser.add_argument("--strict-bits", type=int, default=2)
    parser.add_argument("--step", action="store_true")
    args = parser.parse_args()
    if args.step:
        step(args.videos, args.blocks, args.strict_bits)
        return
    run = measure(
        "bench.neardup_scale",
        "--step",
        "--videos",
        str(args.videos),
        "--blocks",
        str(args.blocks),
        "--strict-bits",
        str(args.strict_bits),
    )
    write_result(
        "neardup_scale",
        {
            "videos": args.videos,
            "blocks": args.blocks,
            "strict_bits": args.strict_bits,
            "run": run,
            "target": {"wall_s": 60, "peak_rss_mb": 6144},
            "met": {
                "wall": run["search_verify_cluster_s"] <= 60,
                "rss": run["peak_rss_mb"] <= 6144,
            },
        },
    )


if __name__ == "__main__":
    main()
