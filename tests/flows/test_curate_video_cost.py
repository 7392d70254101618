"""Video cost follows the sample: with a media file for every post (20× more than the pool),
curate decodes only what it draws, and still screens it. (Companions are off here: at this toy
size their candidates, up to companion_size × (1 + margin), would dominate the count; at the
paper's sizes they add 120K to 1.8M pool candidates, bench/scale.py.)"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import av
import numpy as np
import polars as pl

from curation.config import CurateConfig, SamplingConfig, ShortlistConfig, VideoConfig
from flows.curate import curate
from synth.export import synthesize_export

POSTS = 7_000
POOL, SHORTLIST = 200, 40


def tiny_clip(seed: int) -> bytes:
    """A real 6 s MPEG-4 clip, 96×96 at 2 fps, of coloured blocks that differ by seed."""
    rng = np.random.default_rng(seed)
    blocks = rng.integers(0, 255, size=(6, 4, 4, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as out:
        stream = out.add_stream("mpeg4", rate=2)
        stream.width = stream.height = 96
        stream.pix_fmt = "yuv420p"
        stream.codec_context.thread_count = 1
        for i in range(12):
            frame = np.kron(blocks[i // 2], np.ones((24, 24, 1), dtype=np.uint8))
            out.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        out.mux(stream.encode())
    return buffer.getvalue()


def test_decoded_videos_follow_the_pool_not_the_export(harness: None, tmp_path: Path) -> None:
    export = tmp_path / "export"
    synthesize_export(export, POSTS, seed=4)
    part = next((export / "posts").glob("*.parquet"))
    posts = pl.read_parquet(part)
    (export / "media").mkdir(exist_ok=True)
    checksums = []
    for i in range(posts.height):  # every post gets its own real video file
        data = tiny_clip(i)
        digest = hashlib.sha256(data).hexdigest()
        (export / "media" / f"{digest}.mp4").write_bytes(data)
        checksums.append(digest)
    posts.with_columns(pl.Series("media_sha256", checksums)).write_parquet(part)
    result = curate(
        CurateConfig(
            export_dir=export,
            output_dir=tmp_path / "curation",
            # One language takes the whole pool: 9 strata, so quotas are not all rounded up.
            sampling=SamplingConfig(pool_size=POOL, language_shares={"hi": 1.0}),
            shortlist=ShortlistConfig(size=SHORTLIST, companion_size=0),
            video=VideoConfig(workers=0, store=tmp_path / "fingerprints", require_media=True),
            workers=0,
        ),
        progress=False,
    )
    funnel = json.loads((tmp_path / "curation" / "funnel.json").read_text())
    eligible = next(s for s in funnel["stages"] if s["stage"] == "sampling")["input"]
    assert result.pool == POOL and result.shortlist == SHORTLIST
    assert eligible >= 20 * POOL  # media for 20× more eligible posts than the pool
    assert POOL <= result.decoded_videos <= 1.3 * POOL
    # What was decoded was screened: every pool post has its fingerprint.
    clusters = pl.read_parquet(tmp_path / "curation" / "neardup_clusters.parquet")
    pool = pl.read_parquet(tmp_path / "curation" / "pool.parquet")
    assert set(pool["post_id"]) <= set(clusters["post_id"])
