from datetime import UTC, datetime

import numpy as np
import polars as pl
import pytest

from curation.video.fingerprint_store import STORE_SCHEMA
from curation.video.neardup import NearDupSettings
from curation.video.screen import match_known_media, screen_videos
from storage.exclusions import DETAIL, REASON

DAY = datetime(2021, 5, 1, tzinfo=UTC)


def bag(seed: int, n: int = 8) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 2**64 - 1, n, dtype=np.uint64, endpoint=True)


def noisy(hashes: np.ndarray, bits: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = hashes.copy()
    for i in range(len(out)):
        for b in rng.choice(64, bits, replace=False):
            out[i] ^= np.uint64(1) << np.uint64(int(b))
    return out


def store_row(
    post_id: int, status: str, h: np.ndarray | None = None, hm: np.ndarray | None = None
) -> dict:
    frames = (
        []
        if h is None
        else [
            {"t": float(i), "h": int(a), "hm": int(b)}
            for i, (a, b) in enumerate(zip(h, hm if hm is not None else h[::-1], strict=True))
        ]
    )
    return {"post_id": post_id, "media_sha256": f"m{post_id}", "status": status, "frames": frames}


def posts(n: int, score: list[float] | None = None) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "post_id": list(range(1, n + 1)),
            "media_sha256": [f"m{i}" for i in range(1, n + 1)],
            "engagement_score": score or [1.0] * n,
            "created_ts": [DAY] * n,
            "language": ["hi"] * n,
        }
    )


def test_every_video_outcome_gets_its_reason() -> None:
    base = bag(1)
    sensitive = bag(2)
    stored = pl.DataFrame(
        [
            store_row(1, "ok", base),
            store_row(2, "ok", noisy(base, 2, 0)),  # a near-duplicate of 1, more engaging
            store_row(3, "ok", bag(3)),  # unrelated
            store_row(4, "truncated"),
            store_row(5, "ok", bag(5), hm=noisy(sensitive, 1, 1)),  # a mirrored copy of known media
            # post 6 has no media file, so no store row
        ],
        schema=STORE_SCHEMA,
    )
    known = pl.DataFrame({"hash": sensitive})
    out, stats, _ = screen_videos(
        posts(6, [1.0, 5.0, 1.0, 1.0, 1.0, 1.0]),
        stored,
        known,
        NearDupSettings(),
        known_bits=4,
        require_media=False,
    )
    result = {r["post_id"]: (r[REASON], r[DETAIL]) for r in out.iter_rows(named=True)}
    assert result == {
        1: ("near_duplicate", "2"),
        2: (None, None),
        3: (None, None),
        4: ("video:truncated", None),
        5: ("sensitive_media_hash", "distance 1"),
        6: (None, None),
    }
    assert (stats.fingerprinted, stats.no_media, stats.unusable, stats.known_matches) == (
        4,
        1,
        1,
        1,
    )
    assert out.columns[: posts(1).width] == posts(1).columns  # the posts' own columns are kept


def test_media_can_be_required() -> None:
    out, _, _ = screen_videos(
        posts(1),
        pl.DataFrame(schema=STORE_SCHEMA),
        pl.DataFrame({"hash": []}, schema={"hash": pl.UInt64}),
        NearDupSettings(),
        4,
        require_media=True,
    )
    assert out[REASON].to_list() == ["video:missing_media"]


@pytest.mark.parametrize("bits", [0, 2, 4])
def test_known_media_matching_is_exact_within_its_bits(bits: int) -> None:
    known = bag(7, 50)
    frames = pl.DataFrame(
        {
            "video": np.repeat(np.arange(3), 50).astype(np.int32),
            "h": np.concatenate([noisy(known, bits, 1), noisy(known, bits + 1, 2), bag(9, 50)]),
            "hm": np.concatenate([bag(10, 50), bag(11, 50), bag(12, 50)]),
        }
    )
    hits = match_known_media(frames, pl.DataFrame({"hash": known}), bits)
    assert hits["video"].to_list() == [0] and hits["distance"].to_list() == [bits]


def test_known_hashes_stored_as_signed_integers_are_read_as_bits() -> None:
    known = bag(7, 5)
    frames = pl.DataFrame({"video": np.zeros(5, np.int32), "h": known, "hm": bag(8, 5)})
    signed = pl.DataFrame({"hash": pl.Series(known).reinterpret(signed=True)})
    assert match_known_media(frames, signed, 0)["video"].to_list() == [0]


def test_a_video_error_keeps_the_store_detail() -> None:
    stored = pl.DataFrame(
        [store_row(1, "truncated") | {"detail": "data ends at 3.0s of 9.0s"}], schema=STORE_SCHEMA
    )
    out, _, _ = screen_videos(
        posts(1),
        stored,
        pl.DataFrame({"hash": []}, schema={"hash": pl.UInt64}),
        NearDupSettings(),
        4,
        require_media=False,
    )
    assert out.select(REASON, DETAIL).row(0) == ("video:truncated", "data ends at 3.0s of 9.0s")


def test_known_media_shown_inside_another_video_is_matched_through_its_regions() -> None:
    known = bag(7, 5)
    frames = pl.DataFrame(
        {
            "video": np.zeros(5, np.int32),
            "h": bag(8, 5),
            "hm": bag(9, 5),
            "p": [[int(a), int(b)] for a, b in zip(bag(10, 5), noisy(known, 1, 3), strict=True)],
        },
        schema_overrides={"p": pl.List(pl.UInt64)},
    )
    assert match_known_media(frames, pl.DataFrame({"hash": known}), 2)["video"].to_list() == [0]


def test_a_nudity_score_at_the_threshold_excludes_the_video_before_dedup() -> None:
    base = bag(1)
    stored = pl.DataFrame(
        [
            store_row(1, "ok", base) | {"nudity_score": 0.91, "nudity_label": "BUTTOCKS_EXPOSED"},
            store_row(2, "ok", noisy(base, 2, 0)) | {"nudity_score": 0.0},
            store_row(3, "ok", bag(3)) | {"nudity_score": 0.59, "nudity_label": "ANUS_EXPOSED"},
        ],
        schema=STORE_SCHEMA,
    )
    empty = pl.DataFrame({"hash": []}, schema={"hash": pl.UInt64})
    out, stats, _ = screen_videos(
        posts(3, [9.0, 1.0, 1.0]), stored, empty, NearDupSettings(), 4, False, 0.6
    )
    result = {r["post_id"]: (r[REASON], r[DETAIL]) for r in out.iter_rows(named=True)}
    # Post 1 is flagged, so its less engaging copy 2 is not folded into it: 2 stays.
    assert result == {
        1: ("sensitive_nudity", "BUTTOCKS_EXPOSED 0.91"),
        2: (None, None),
        3: (None, None),
    }
    assert stats.nudity_matches == 1
    off, _, _ = screen_videos(posts(3, [9.0, 1.0, 1.0]), stored, empty, NearDupSettings(), 4, False)
    assert off[REASON].to_list() == [None, "near_duplicate", None]  # detector off: scores unused


def test_copies_of_an_opted_out_video_leave_even_as_representatives() -> None:
    withdrawn = bag(40)
    other = bag(41)
    stored = pl.DataFrame(
        [
            store_row(1, "ok", noisy(withdrawn, 2, 1)),  # a re-upload of the opted-out video
            store_row(2, "ok", noisy(withdrawn, 1, 2)),  # another, the most engaging post
            store_row(3, "ok", bag(42)),  # unrelated
            store_row(4, "ok", other),  # an ordinary duplicate pair: unaffected
            store_row(5, "ok", noisy(other, 2, 3)),
        ],
        schema=STORE_SCHEMA,
    )
    opted_out = pl.DataFrame([store_row(99, "ok", withdrawn)], schema=STORE_SCHEMA).select("frames")
    out, stats, clusters = screen_videos(
        posts(5, [1.0, 9.0, 1.0, 2.0, 1.0]),
        stored,
        pl.DataFrame(schema={"hash": pl.UInt64}),
        NearDupSettings(),
        known_bits=4,
        require_media=False,
        opted_out=opted_out,
    )
    result = {r["post_id"]: (r[REASON], r[DETAIL]) for r in out.iter_rows(named=True)}
    assert result == {
        1: ("opted_out_near_duplicate", None),
        2: ("opted_out_near_duplicate", None),
        3: (None, None),
        4: (None, None),
        5: ("near_duplicate", "4"),
    }
    assert stats.opted_out_copies == 2 and stats.duplicate_pairs == 1
    # The saved clusters: what the search saw (not the copies of the opted-out video, whose
    # pairs it set aside), the representative each post was folded into, its direct matches.
    rows = {r["post_id"]: r for r in clusters.iter_rows(named=True)}
    assert sorted(rows) == [3, 4, 5]
    assert rows[4]["representative"] == rows[5]["representative"] == 4
    assert rows[4]["matches"] == [5] and rows[5]["matches"] == [4] and rows[3]["matches"] == []
    assert rows[4]["cluster"] == rows[5]["cluster"] != rows[3]["cluster"]
