""" "Am I in it?" at the paper's release size: what one upload costs the site.

Two parts, each as the site runs it. The fingerprint: a 10 s clip (synth.video, 640×360)
through `fingerprint_untrusted`, the confined child process every upload goes to (start,
imports, limits, decode, fingerprint). The match: one clip's frames against the frames of
155,000 released videos (the 50K labeled + 100K unlabeled of the paper; synthetic bags as
bench/neardup_scale.py makes them, ~3.1M frames) with `match_references`, which asks only
for pairs with the query (`focus`), and, for comparison in the same run, the whole search
those pairs used to come from.

    make bench-lookup            # or: uv run python -m bench.lookup
"""

from __future__ import annotations

import resource
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import polars as pl

from bench.common import write_result
from bench.neardup_scale import synthetic_bags
from curation.config import VideoConfig
from curation.video.isolated import fingerprint_untrusted
from curation.video.neardup import find_near_duplicates, match_references, split_reference_pairs
from curation.video.neardup import with_references as joined_with
from curation.video.settings import neardup_settings, settings_of
from synth.video.codec import make_person_clip

RELEASED = 155_000
REPEATS = 3


def seconds(fn: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def main() -> None:
    video = VideoConfig()
    with tempfile.TemporaryDirectory() as tmp:
        clip = Path(tmp) / "clip.mp4"
        make_person_clip(clip, seed=4, duration_s=10.0)
        fingerprint = [seconds(lambda: fingerprint_untrusted(clip, settings_of(video)))[0]
                       for _ in range(REPEATS)]  # fmt: skip
        bags = Path(tmp) / "bags"
        bags.mkdir()
        synthetic_bags(RELEASED, bags)
        frames = pl.read_parquet(bags / "*.parquet").with_columns(
            pl.col("frame").cast(pl.Float64).alias("t")
        )
    settings = neardup_settings(video)
    query = frames.filter(pl.col("video") == 7).with_columns(pl.lit(0, pl.Int32).alias("video"))
    focused = [seconds(lambda: match_references(frames, query, settings)) for _ in range(REPEATS)]
    n = RELEASED

    def whole() -> pl.DataFrame:
        result = find_near_duplicates(joined_with(frames, query, n), settings)
        return split_reference_pairs(result.pairs, n)[1]

    full = [seconds(whole) for _ in range(REPEATS)]
    assert all(f[1].equals(full[0][1]) for f in focused)  # the same answer
    doc = {
        "released_videos": RELEASED,
        "released_frames": frames.height,
        "matches": focused[0][1].height,
        "fingerprint_child_s": {
            "median": round(statistics.median(fingerprint), 2),
            "runs": [round(s, 2) for s in fingerprint],
        },
        "match_focused_s": round(statistics.median(s for s, _ in focused), 2),
        "match_whole_search_s": round(statistics.median(s for s, _ in full), 2),
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    }
    write_result("lookup", doc)


if __name__ == "__main__":
    main()
