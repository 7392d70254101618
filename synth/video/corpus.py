"""The benchmark corpus: plan sources and distractors, render them (in processes), write
corpus.parquet."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from statistics import NormalDist
from typing import Any

import numpy as np
import polars as pl

from synth.video.codec import (
    ClipInfo,
    make_person_clip,
    make_setting_clip,
    make_slideshow_clip,
    make_source_clip,
)
from synth.video.edits import EDITS, apply_edits
from synth.video.rng import keyed_rng, subseed

CORPUS_SCHEMA: dict[str, Any] = {
    "clip_id": pl.String,
    "path": pl.String,
    "source_id": pl.String,
    "edit": pl.String,
    "group": pl.String,
    "duration_s": pl.Float64,
    "width": pl.Int64,
    "height": pl.Int64,
}


def _durations(rng: np.random.Generator, n: int, min_s: float, max_s: float) -> np.ndarray:
    """Lognormal durations (median 14 s, mostly 8–25 s) truncated to [min_s, max_s]."""
    dist = NormalDist(math.log(14.0), 0.4)
    lo, hi = dist.cdf(math.log(min_s)), dist.cdf(math.log(max_s))
    u = lo + (hi - lo) * rng.random(n)
    u = np.clip(u, 1e-12, 1 - 1e-12)
    return np.array([math.exp(dist.inv_cdf(float(x))) for x in u])


def _group_sizes(rng: np.random.Generator, total: int) -> list[int]:
    sizes: list[int] = []
    while sum(sizes) < total:
        sizes.append(min(int(rng.integers(3, 6)), total - sum(sizes)))
    if len(sizes) > 1 and sizes[-1] < 2:  # a one-clip group has nothing to look like
        sizes[-2] += sizes.pop()
    return sizes


@dataclass(frozen=True)
class _Job:
    kind: str  # source | distractor | lookalike_slideshow | lookalike_setting
    clip_id: str
    seed: int
    duration_s: float
    group: str | None = None
    group_seed: int = 0
    person: bool = False


def _run_job(job: _Job, out_dir: Path, fps: int, edits: Sequence[str]) -> list[dict[str, Any]]:
    path = out_dir / "videos" / f"{job.clip_id}.mp4"
    rel = f"videos/{job.clip_id}.mp4"

    def row(
        info: ClipInfo,
        clip_id: str,
        rel_path: str,
        edit: str,
        source: str | None,
        group: str | None,
    ) -> dict[str, Any]:
        return {
            "clip_id": clip_id,
            "path": rel_path,
            "source_id": source,
            "edit": edit,
            "group": group,
            "duration_s": info.duration_s,
            "width": info.width,
            "height": info.height,
        }

    if job.kind == "source":
        info = make_source_clip(path, job.seed, job.duration_s, fps)
        rows = [row(info, job.clip_id, rel, "original", job.clip_id, job.clip_id)]
        targets = {e: out_dir / "videos" / f"{job.clip_id}-{e}.mp4" for e in edits}
        for e, einfo in apply_edits(path, targets, job.seed).items():
            rows.append(
                row(
                    einfo,
                    f"{job.clip_id}-{e}",
                    f"videos/{job.clip_id}-{e}.mp4",
                    e,
                    job.clip_id,
                    job.clip_id,
                )
            )
        return rows
    if job.kind == "lookalike_slideshow":
        info = make_slideshow_clip(path, job.group_seed, job.seed, job.duration_s, fps)
    elif job.kind == "lookalike_setting":
        info = make_setting_clip(path, job.group_seed, job.seed, job.duration_s, fps)
    elif job.person:
        info = make_person_clip(path, job.seed, job.duration_s, fps)
    else:
        info = make_source_clip(path, job.seed, job.duration_s, fps, crf=23)
    return [row(info, job.clip_id, rel, job.kind, None, job.group)]


def _plan(n_sources: int, n_distractors: int, seed: int, min_s: float, max_s: float) -> list[_Job]:
    rng = keyed_rng(seed, "plan")
    dur = _durations(rng, n_sources + n_distractors, min_s, max_s)
    jobs = [
        _Job("source", f"s{i:04d}", subseed(seed, "source", i), float(dur[i]))
        for i in range(n_sources)
    ]
    n_slide = round(0.2 * n_distractors)
    n_set = round(0.2 * n_distractors)
    n_plain = n_distractors - n_slide - n_set
    d = iter(dur[n_sources:].tolist())
    for j in range(n_plain):
        jobs.append(
            _Job(
                "distractor",
                f"d{j:04d}",
                subseed(seed, "distractor", j),
                next(d),
                person=bool(rng.random() < 0.3),
            )
        )
    for kind, tag, n in (("lookalike_slideshow", "t", n_slide), ("lookalike_setting", "g", n_set)):
        for g, size in enumerate(_group_sizes(rng, n) if n else []):
            group = f"{tag}{g:03d}"
            for m in range(size):
                jobs.append(
                    _Job(
                        kind,
                        f"{group}-{m}",
                        subseed(seed, kind, g, m),
                        next(d),
                        group,
                        subseed(seed, kind, g),
                    )
                )
    return jobs


def synthesize_corpus(
    out_dir: Path,
    n_sources: int,
    n_distractors: int,
    seed: int,
    fps: int = 15,
    min_s: float = 5,
    max_s: float = 60,
    edits: list[str] | None = None,
    progress: Callable[[int], None] | None = None,
    workers: int = 1,
) -> Path:
    """Write `out_dir/videos/*.mp4` and `out_dir/corpus.parquet`; returns the parquet path.

    Each source gets every edit in `edits` (default: all of `EDITS`). Durations are lognormal
    (median 14 s) truncated to [min_s, max_s]; `trim3` keeps at least 1 s of very short sources.
    Of the distractors, 20% are template slideshows and 20% same-setting clips, in groups of 3–5.
    `progress(n)` is called with the number of clips just written. `workers` > 1 renders clips
    in that many processes (the output does not depend on it).
    """
    edits = list(EDITS) if edits is None else list(edits)
    unknown = sorted(set(edits) - set(EDITS))
    if unknown:
        raise ValueError(f"unknown edits {unknown}; known: {', '.join(EDITS)}")
    if not 0 < min_s <= max_s:
        raise ValueError("need 0 < min_s <= max_s")
    (out_dir / "videos").mkdir(parents=True, exist_ok=True)
    jobs = _plan(n_sources, n_distractors, seed, min_s, max_s)
    results: list[list[dict[str, Any]]] = []
    if workers > 1:
        with ProcessPoolExecutor(workers) as pool:
            futures = [pool.submit(_run_job, job, out_dir, fps, edits) for job in jobs]
            for fut in futures:
                results.append(fut.result())
                if progress:
                    progress(len(results[-1]))
    else:
        for job in jobs:
            results.append(_run_job(job, out_dir, fps, edits))
            if progress:
                progress(len(results[-1]))
    corpus = pl.DataFrame([r for rows in results for r in rows], schema=CORPUS_SCHEMA)
    path = out_dir / "corpus.parquet"
    corpus.write_parquet(path)
    return path
