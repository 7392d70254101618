from datetime import UTC, datetime

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from curation.video.neardup import (
    NearDupSettings,
    band_masks,
    cluster_videos,
    find_near_duplicates,
    flag_near_duplicates,
)


def frames_of(h: np.ndarray, hm: np.ndarray, p: np.ndarray | None = None) -> pl.DataFrame:
    n, per = h.shape
    frames = pl.DataFrame(
        {
            "video": np.repeat(np.arange(n), per),
            "frame": np.tile(np.arange(per), n),
            "h": h.ravel(),
            "hm": hm.ravel(),
        }
    )
    if p is None:
        return frames
    return frames.with_columns(pl.Series("p", p.reshape(n * per, -1).tolist(), pl.List(pl.UInt64)))


def brute_force(
    h: np.ndarray, hm: np.ndarray, p: np.ndarray, k: int, inset_k: int = -1, crop_windows: int = 9
) -> set[tuple[int, int]]:
    """Video pairs with a plain hash within k bits of the other's plain, mirrored or region
    hash, or within inset_k bits of an inset (a region after the first crop_windows). Every
    frame counts: the test gives each video fewer frames than probe_frames."""
    n, per = h.shape
    video = np.repeat(np.arange(n), per)
    plain, mirror = h.ravel(), hm.ravel()
    regions = p.reshape(n * per, -1)
    found = set()
    views = [(other, k) for other in [plain, mirror, *regions.T]]
    views += [(inset, inset_k) for inset in regions.T[crop_windows:]]
    for other, bits in views:
        close = np.bitwise_count(plain[:, None] ^ other[None, :]) <= bits
        found |= {
            (min(int(video[x]), int(video[y])), max(int(video[x]), int(video[y])))
            for x, y in zip(*np.nonzero(close), strict=True)
            if video[x] != video[y]
        }
    return found


def flip(value: np.uint64, bits: np.ndarray) -> np.uint64:
    for b in bits:
        value ^= np.uint64(1) << np.uint64(int(b))
    return value


@pytest.mark.parametrize(("blocks", "strict_bits"), [(2, 1), (4, 1), (4, 2), (6, 3)])
def test_masks_cover_every_way_to_differ_in_k_bits(blocks: int, strict_bits: int) -> None:
    masks = [int(m) for m in band_masks(blocks, strict_bits)["mask"]]
    rng = np.random.default_rng(blocks)
    for _ in range(300):
        diff = 0
        for b in rng.choice(64, strict_bits, replace=False):
            diff |= 1 << int(b)
        assert any(diff & m == 0 for m in masks)  # some band ignores every differing bit


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), k=st.sampled_from([(4, 1), (4, 2), (6, 3)]))
def test_the_band_join_finds_every_frame_pair_within_its_guarantee(
    seed: int, k: tuple[int, int]
) -> None:
    blocks, strict_bits = k
    rng = np.random.default_rng(seed)
    h = rng.integers(0, 2**64 - 1, (60, 4), dtype=np.uint64, endpoint=True)
    hm = rng.integers(0, 2**64 - 1, (60, 4), dtype=np.uint64, endpoint=True)
    p = rng.integers(0, 2**64 - 1, (60, 4, 3), dtype=np.uint64, endpoint=True)
    for i in range(30):  # copies with 0 … strict_bits + 1 flipped bits: plain, mirrored, region
        for f in range(4):
            src = (h[i, f], hm[i, f], p[i, f, i % 3])[i % 3]
            h[30 + i, f] = flip(
                src, rng.choice(64, int(rng.integers(0, strict_bits + 2)), replace=False)
            )
    for i in range(10):  # inset copies 3–5 bits off: the inset key finds those within 4
        p[50 + i, 0, 2] = flip(h[i, 0], rng.choice(64, int(rng.integers(3, 6)), replace=False))
    settings = NearDupSettings(blocks=blocks, strict_bits=strict_bits, crop_windows=2)
    result = find_near_duplicates(frames_of(h, hm, p), settings)
    found = set(result.pairs.select("video_a", "video_b").iter_rows())
    assert result.candidates == len(found)
    assert found == brute_force(h, hm, p, strict_bits, settings.inset_strict_bits, 2)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), focus=st.integers(1, 59), common=st.booleans())
def test_a_focused_search_finds_exactly_the_focus_pairs_of_the_whole_search(
    seed: int, focus: int, common: bool
) -> None:
    """What "Am I in it?" and the opt-out copy check ask: only pairs with a video ≥ focus,
    found without joining the others; the rows equal the whole search's, verification too."""
    rng = np.random.default_rng(seed)
    h = rng.integers(0, 2**64 - 1, (60, 6), dtype=np.uint64, endpoint=True)
    hm = rng.integers(0, 2**64 - 1, (60, 6), dtype=np.uint64, endpoint=True)
    p = rng.integers(0, 2**64 - 1, (60, 6, 3), dtype=np.uint64, endpoint=True)
    for i in range(25):  # copies (of a plain, mirrored or region hash) across the focus line
        j, kind = int(rng.integers(0, 60)), i % 3  # and on either side of it
        sources = (h[i], hm[i], p[i, :, i % 3])[kind]
        h[j] = [flip(x, rng.choice(64, int(rng.integers(0, 3)), replace=False)) for x in sources]
    if common:  # a key too common to join, which a focus video holds too
        h[:30, 0] = np.uint64(7)
    settings = NearDupSettings(blocks=4, strict_bits=2, crop_windows=2, max_bucket=20)
    frames = frames_of(h, hm, p)
    whole = find_near_duplicates(frames, settings).pairs.filter(pl.col("video_b") >= focus)
    focused = find_near_duplicates(frames, settings, focus=focus).pairs
    assert focused.equals(whole)


def test_verification_shares_and_decision() -> None:
    rng = np.random.default_rng(1)
    h = rng.integers(0, 2**64 - 1, (3, 10), dtype=np.uint64, endpoint=True)
    hm = rng.integers(0, 2**64 - 1, (3, 10), dtype=np.uint64, endpoint=True)
    # A re-encode: one frame within the strict key (2 bits), the rest up to 6 bits off.
    h[1] = [flip(x, rng.choice(64, 2 if i == 0 else 6, replace=False)) for i, x in enumerate(h[0])]
    h[2, :2] = h[0, :2]  # two shared frames only (say, the same intro): not a duplicate
    result = find_near_duplicates(frames_of(h, hm), NearDupSettings(min_share=0.5))
    rows = {(r["video_a"], r["video_b"]): r for r in result.pairs.iter_rows(named=True)}
    assert rows[(0, 1)]["share_a"] == 1.0 and rows[(0, 1)]["duplicate"]
    assert rows[(0, 2)]["share_a"] == pytest.approx(0.2) and not rows[(0, 2)]["duplicate"]


def test_a_copy_keeps_time_and_a_look_alike_does_not() -> None:
    rng = np.random.default_rng(5)
    h = rng.integers(0, 2**64 - 1, (3, 20), dtype=np.uint64, endpoint=True)
    hm = rng.integers(0, 2**64 - 1, (3, 20), dtype=np.uint64, endpoint=True)
    sped_up = np.array([i for i in range(20) if i % 5 != 4])  # 1.25×: every 5th second gone
    h[1, : len(sped_up)] = [flip(x, rng.choice(64, 2, replace=False)) for x in h[0, sped_up]]
    h[1, len(sped_up) :] = rng.integers(0, 2**63, 20 - len(sped_up), dtype=np.uint64)
    h[2] = [flip(x, rng.choice(64, 2, replace=False)) for x in h[0, rng.permutation(20)]]
    result = find_near_duplicates(frames_of(h, hm), NearDupSettings())
    rows = {(r["video_a"], r["video_b"]): r for r in result.pairs.iter_rows(named=True)}
    assert rows[(0, 1)]["duplicate"] and rows[(0, 1)]["aligned_a"] >= 0.75
    # The same frames in another order: every frame matches, no time line holds them.
    assert rows[(0, 2)]["share_a"] == 1.0 and rows[(0, 2)]["aligned_a"] < 0.4
    assert not rows[(0, 2)]["duplicate"]


def test_too_common_keys_are_skipped_and_counted() -> None:
    h = np.zeros((30, 2), dtype=np.uint64)  # flat frames: every hash the same
    hm = np.ones((30, 2), dtype=np.uint64)
    result = find_near_duplicates(frames_of(h, hm), NearDupSettings(max_bucket=20))
    assert result.candidates == 0 and result.skipped_buckets > 0 and result.skipped_hashes >= 60


def test_clusters_keep_the_most_engaging_member() -> None:
    pairs = pl.DataFrame(
        {"video_a": [0, 1, 3], "video_b": [1, 2, 4], "duplicate": [True, True, False]}
    )
    labels = cluster_videos(pairs, 5)
    assert labels[0] == labels[1] == labels[2] and len({labels[3], labels[4], labels[0]}) == 3
    day = datetime(2021, 5, 1, tzinfo=UTC)
    posts = pl.DataFrame(
        {
            "video": [0, 1, 2, 3, 4],
            "post_id": [10, 11, 12, 13, 14],
            "engagement_score": [1.0, 5.0, 5.0, 9.0, 1.0],
            "created_ts": [day, day.replace(day=3), day.replace(day=2), day, day],
        }
    )
    out = flag_near_duplicates(posts, pairs).sort("video")
    # 12 leads (5.0, and earlier than 11); 11 matches it directly and is folded into it. 10
    # matches only 11, which is no representative, so 10 stays: it never matched 12 itself.
    assert out["exclusion_reason"].to_list() == [None, "near_duplicate", None, None, None]
    assert out["exclusion_detail"].to_list() == [None, "12", None, None, None]


def test_a_chain_does_not_remove_a_video_that_matches_nothing_it_is_folded_into() -> None:
    # A (short) ⊂ B (long) and B ~ C: A and C share no frame; only B may be folded into C.
    pairs = pl.DataFrame({"video_a": [0, 1], "video_b": [1, 2], "duplicate": [True, True]})
    day = datetime(2021, 5, 1, tzinfo=UTC)
    posts = pl.DataFrame(
        {
            "video": [0, 1, 2],
            "post_id": [1, 2, 3],
            "engagement_score": [1.0, 2.0, 9.0],
            "created_ts": [day] * 3,
        }
    )
    out = flag_near_duplicates(posts, pairs).sort("video")
    assert out["exclusion_reason"].to_list() == [None, "near_duplicate", None]
    assert out["exclusion_detail"].to_list() == [None, "3", None]
