"""Synthetic near-duplicate video benchmark, deterministic from a seed.

Sources are portrait 540×960 clips of procedural, natural-image-like content (fractal landscapes,
beaches, domain-warped rock/marble textures, rooms, skylines, flower close-ups) seen through a
panning/zooming camera, with 1–4 scene cuts, text and moving faces, dancers and objects. Each
source is then edited the way a platform sees re-uploads (`EDITS`): re-encoded, halved, cropped,
letterboxed, captioned, watermarked, greyscaled, mirrored, trimmed, sped up/down, or put beside a
reaction video. Distractors are unrelated clips (a third of them talking heads) plus hard
negatives: slideshows from one template (same background, frame, title, fonts, stickers and
transitions) with different pictures, and clips shot at one spot of one setting with different
people, props and camera paths. Ground truth: two clips are near-duplicates iff they share a
non-null `source_id` in `corpus.parquet`.

Everything is drawn with numpy/cv2 and encoded with PyAV's libx264 (`preset=ultrafast`); nothing
is downloaded. The same arguments give the same `corpus.parquet` and the same decoded frames (on
one machine the files came out byte-identical, also with workers=2).

Measured on this machine's 2 shared cores while another job kept the load at ~3–4, fps=15:
    source clip, 20 s:           ~1.4 s (a scene canvas 0.05–0.15 s, then ~3 ms render + ~2 ms
                                 encode per frame)
    one edit of a 20 s source:   0.4–1.1 s alone (half_size fastest; pip_reaction, reencode
                                 slowest); all 12 fanned out from one decode: ~8.2 s
    distractor, 20 s:            ~1.1 s (talking head, slideshow or setting alike)
    10 sources × 12 edits + 75 distractors (205 clips, 52 min of video, 426 MB):
                                 112 s with workers=1, 85 s with workers=2
    => 40 × 12 + 300 (820 clips, default durations: median 14 s, mostly 8–25 s): ~7.5 min
       with workers=1, ~6 min with workers=2, ~1.7 GB.

Modules, each importing only those before it: rng (keyed generators), images (procedural
scenes), actors (what moves over a frame), camera, clips (frame iterators), codec (MP4 in and
out, make_*_clip), edits (`EDITS`, `apply_edits`), corpus (`synthesize_corpus`).
"""

from synth.video.camera import CANVAS_SCALE
from synth.video.clips import HEIGHT, WIDTH
from synth.video.codec import (
    ClipInfo,
    make_person_clip,
    make_setting_clip,
    make_slideshow_clip,
    make_source_clip,
    probe,
    read_frames,
)
from synth.video.corpus import CORPUS_SCHEMA, synthesize_corpus
from synth.video.edits import (
    EDITS,
    apply_edits,
    black_bars,
    crop10,
    greyscale,
    half_size,
    logo,
    mirror,
    pip_reaction,
    reencode,
    speed_0_8,
    speed_1_25,
    text_overlay,
    trim3,
)
from synth.video.images import Colour, Frame

__all__ = [
    "CANVAS_SCALE",
    "CORPUS_SCHEMA",
    "EDITS",
    "HEIGHT",
    "WIDTH",
    "ClipInfo",
    "Colour",
    "Frame",
    "apply_edits",
    "black_bars",
    "crop10",
    "greyscale",
    "half_size",
    "logo",
    "make_person_clip",
    "make_setting_clip",
    "make_slideshow_clip",
    "make_source_clip",
    "mirror",
    "pip_reaction",
    "probe",
    "read_frames",
    "reencode",
    "speed_0_8",
    "speed_1_25",
    "synthesize_corpus",
    "text_overlay",
    "trim3",
]
