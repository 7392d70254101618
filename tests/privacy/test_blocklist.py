"""The opt-out blocklist: keyed MACs, append-only batches, commitments, and use in curation
and release checks."""

import hashlib
import hmac
import random
import re
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from privacy.blocklist import (
    MAC_CHARS,
    SCHEMA,
    Blocklist,
    add_entries,
    flag_blocked,
    load_blocklist,
    mac,
    macs,
    removal_reasons,
    save_blocklist,
)
from privacy.keys import KeyMismatchError, KeyUnavailableError, PseudonymKey
from privacy.pseudonyms import pseudonym, pseudonymize
from storage.exclusions import DETAIL, REASON
from storage.runs import OptOutFolder
from storage.tables import replace_parquet

KEY = PseudonymKey("k1", bytes(range(32)))
OTHER = PseudonymKey("k2", bytes(range(1, 33)))
RELEASE_CHARS = 16
HEX = re.compile(r"[0-9a-f]+")


def rows(*entries: tuple[str, int, str], key: PseudonymKey = KEY) -> pl.DataFrame:
    """(kind, mac, reason) rows for add_entries, from (kind, raw id, reason)."""
    return pl.DataFrame(
        [(kind, mac(key, kind, value), reason) for kind, value, reason in entries],
        schema={"kind": pl.String, "mac": pl.String, "reason": pl.String},
        orient="row",
    )


def blocklist_of(*entries: tuple[str, int, str], key: PseudonymKey = KEY) -> Blocklist:
    blocklist, added = add_entries(Blocklist.empty(), rows(*entries, key=key), key)
    assert added == len(set((kind, value) for kind, value, _ in entries))
    return blocklist


# --- MACs ----------------------------------------------------------------------------------


def test_mac_is_the_full_hmac_and_the_release_pseudonym_is_its_prefix() -> None:
    expected = hmac.new(KEY.secret, b"video:1", hashlib.sha256).hexdigest()
    full = mac(KEY, "video", 1)
    assert full == expected
    assert len(full) == MAC_CHARS == 64 and HEX.fullmatch(full)
    assert pseudonym(KEY, "video", 1, RELEASE_CHARS) == full[:RELEASE_CHARS]
    # The kind is part of the message: a video and a creator with the same number differ.
    assert mac(KEY, "creator", 1) != full
    assert mac(KEY, "creator", 1)[:RELEASE_CHARS] != full[:RELEASE_CHARS]
    assert mac(KEY, "creator", 1) == hmac.new(KEY.secret, b"creator:1", hashlib.sha256).hexdigest()
    # Keyed: another key gives another MAC.
    assert mac(OTHER, "video", 1) != full


@settings(max_examples=50, deadline=None)
@given(
    value=st.integers(0, 2**63 - 1),
    kind=st.sampled_from(["video", "creator"]),
    chars=st.integers(1, MAC_CHARS),
)
def test_every_pseudonym_length_is_a_prefix_of_the_mac(value: int, kind: str, chars: int) -> None:
    assert pseudonym(KEY, kind, value, chars) == mac(KEY, kind, value)[:chars]


def test_macs_maps_each_value_and_keeps_nulls() -> None:
    out = macs(pl.Series([2, 1, 2, None], dtype=pl.Int64), KEY, "creator")
    assert out.dtype == pl.String
    two, one = mac(KEY, "creator", 2), mac(KEY, "creator", 1)
    assert out.to_list() == [two, one, two, None]


# --- adding entries ------------------------------------------------------------------------


def test_add_entries_starts_a_new_batch_and_records_the_key() -> None:
    first, added = add_entries(
        Blocklist.empty(),
        rows(("video", 1, "opt_out_video"), ("creator", 7, "opt_out_creator")),
        KEY,
    )
    assert added == 2 and first.batch == 1
    assert dict(first.entries.schema) == SCHEMA
    assert set(first.entries["key_version"]) == {KEY.version}
    assert set(first.entries["key_fingerprint"]) == {KEY.fingerprint}
    assert KEY.secret.hex() not in first.entries.write_csv()
    second, added = add_entries(first, rows(("video", 2, "near_duplicate")), KEY)
    assert added == 1 and second.batch == 2
    assert second.entries.filter(pl.col("batch") == 2)["mac"].to_list() == [mac(KEY, "video", 2)]
    # The old entries keep their batch: entries are only ever added.
    assert_frame_equal(second.entries.filter(pl.col("batch") == 1), first.entries)


def test_add_entries_is_idempotent() -> None:
    new = rows(("video", 1, "opt_out_video"), ("creator", 7, "opt_out_creator"))
    once, _ = add_entries(Blocklist.empty(), new, KEY)
    twice, added = add_entries(once, new, KEY)
    assert added == 0 and twice.batch == once.batch == 1
    assert_frame_equal(twice.entries, once.entries)
    # Old rows mixed with one new one: only the new one is added, as the next batch.
    more, added = add_entries(once, pl.concat([new, rows(("video", 3, "opt_out_video"))]), KEY)
    assert added == 1 and more.batch == 2 and more.entries.height == 3


def test_duplicates_within_one_call_collapse() -> None:
    new = rows(
        ("video", 1, "opt_out_video"),
        ("video", 1, "opt_out_video"),
        ("video", 1, "near_duplicate"),
        ("creator", 1, "opt_out_creator"),  # same number, other kind: a separate entry
    )
    blocklist, added = add_entries(Blocklist.empty(), new, KEY)
    assert added == 2 and blocklist.entries.height == 2
    assert blocklist.entries.select("kind", "mac").is_unique().all()
    assert sorted(blocklist.entries["kind"]) == ["creator", "video"]


# --- saving and loading --------------------------------------------------------------------


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    blocklist = blocklist_of(("video", 1, "opt_out_video"), ("creator", 7, "opt_out_creator"))
    blocklist, _ = add_entries(blocklist, rows(("video", 2, "near_duplicate")), KEY)
    folder = tmp_path / "optout"  # does not exist yet
    save_blocklist(folder, blocklist)
    assert OptOutFolder(folder).blocklist.is_file()
    loaded = load_blocklist(folder)
    assert dict(loaded.entries.schema) == SCHEMA
    assert loaded.batch == 2
    assert_frame_equal(
        loaded.entries, blocklist.entries.sort("batch", "kind", "mac"), check_row_order=True
    )
    assert loaded.commitment() == blocklist.commitment()
    # Saving again replaces the file (no leftovers from the atomic write).
    save_blocklist(folder, loaded)
    assert sorted(p.name for p in folder.iterdir()) == [OptOutFolder(folder).blocklist.name]


def test_a_missing_blocklist_is_empty(tmp_path: Path) -> None:
    loaded = load_blocklist(tmp_path / "nowhere")
    assert loaded.entries.is_empty()
    assert dict(loaded.entries.schema) == SCHEMA
    assert loaded.batch == 0 and Blocklist.empty().batch == 0
    assert loaded.commitment() == {
        "sha256": hashlib.sha256(b"").hexdigest(),
        "entries": 0,
        "batch": 0,
    }


# --- commitments ---------------------------------------------------------------------------


def test_commitment_is_sha256_over_sorted_kind_mac_lines() -> None:
    blocklist = blocklist_of(("video", 1, "opt_out_video"), ("creator", 7, "opt_out_creator"))
    lines = sorted([f"video:{mac(KEY, 'video', 1)}", f"creator:{mac(KEY, 'creator', 7)}"])
    assert blocklist.commitment() == {
        "sha256": hashlib.sha256(("\n".join(lines) + "\n").encode()).hexdigest(),
        "entries": 2,
        "batch": 1,
    }


@settings(max_examples=25, deadline=None)
@given(order=st.permutations(list(range(6))))
def test_commitment_does_not_depend_on_row_order(order: list[int]) -> None:
    blocklist = blocklist_of(
        *[("video", i, "opt_out_video") for i in range(4)],
        *[("creator", i, "opt_out_creator") for i in range(2)],
    )
    shuffled = Blocklist(blocklist.entries[order])
    assert shuffled.commitment() == blocklist.commitment()


def test_commitment_changes_when_an_entry_is_added_or_removed() -> None:
    base = blocklist_of(("video", 1, "opt_out_video"), ("video", 2, "opt_out_video"))
    grown, _ = add_entries(base, rows(("creator", 1, "opt_out_creator")), KEY)
    shrunk = Blocklist(base.entries.filter(pl.col("mac") != mac(KEY, "video", 2)))
    digests = {b.commitment()["sha256"] for b in (base, grown, shrunk)}
    assert len(digests) == 3
    assert grown.commitment()["entries"] == 3 and shrunk.commitment()["entries"] == 1
    # The kind is committed to as well, not only the MAC.
    relabelled = Blocklist(base.entries.with_columns(kind=pl.lit("creator")))
    assert relabelled.commitment()["sha256"] != base.commitment()["sha256"]


def test_upto_reproduces_an_earlier_commitment() -> None:
    blocklist = blocklist_of(("video", 1, "opt_out_video"))
    at_1 = blocklist.commitment()
    blocklist, _ = add_entries(blocklist, rows(("creator", 5, "opt_out_creator")), KEY)
    at_2 = blocklist.commitment()
    blocklist, _ = add_entries(
        blocklist, rows(("video", 2, "opt_out_video"), ("video", 3, "near_duplicate")), KEY
    )
    assert blocklist.batch == 3
    assert blocklist.commitment() != at_2 != at_1
    assert blocklist.upto(1).commitment() == at_1
    assert blocklist.upto(2).commitment() == at_2
    assert blocklist.upto(3).commitment() == blocklist.commitment()
    assert blocklist.upto(0).commitment() == Blocklist.empty().commitment()


# --- keys ----------------------------------------------------------------------------------


def test_a_blocklist_refuses_another_key_without_revealing_either() -> None:
    blocklist = blocklist_of(("video", 1, "opt_out_video"))
    blocklist.check_key(KEY)  # its own key is fine
    Blocklist.empty().check_key(OTHER)  # nothing to mismatch
    same_version = PseudonymKey(KEY.version, bytes(range(2, 34)))
    for wrong in (OTHER, same_version, PseudonymKey("k9", KEY.secret)):
        with pytest.raises(KeyMismatchError) as info:
            blocklist.check_key(wrong)
        message = str(info.value)
        for secret in (KEY.secret, wrong.secret):
            assert secret.hex() not in message
            assert secret.hex().upper() not in message


# --- curation stage ------------------------------------------------------------------------


def candidates() -> pl.LazyFrame:
    return pl.LazyFrame(
        {
            "post_id": [1, 2, 3, 4, 5, 6],
            "creator_id": [10, 10, 20, 20, 30, None],
        },
        schema={"post_id": pl.Int64, "creator_id": pl.Int64},
    )


def test_flag_blocked_flags_blocked_videos_and_every_post_of_blocked_creators() -> None:
    blocklist = blocklist_of(
        ("video", 3, "opt_out_video"),
        ("video", 1, "opt_out_video"),  # its creator is blocked too: the creator wins
        ("video", 6, "near_duplicate"),  # a post without a creator
        ("creator", 10, "opt_out_creator"),
        ("creator", 5, "opt_out_creator"),  # the number of a post, not of a creator
    )
    out = flag_blocked(candidates(), blocklist, KEY).collect().sort("post_id")
    assert out["post_id"].to_list() == [1, 2, 3, 4, 5, 6]
    assert out[REASON].to_list() == ["opted_out", "opted_out", "opted_out", None, None, "opted_out"]
    assert out[DETAIL].to_list() == ["creator", "creator", "video", None, None, "video"]


def test_flag_blocked_with_an_empty_blocklist_needs_no_key() -> None:
    out = flag_blocked(candidates(), Blocklist.empty(), None).collect()
    assert out.height == 6
    assert out[REASON].null_count() == 6 and out[DETAIL].null_count() == 6
    assert out.schema[REASON] == out.schema[DETAIL] == pl.String


def test_flag_blocked_with_entries_needs_the_key() -> None:
    blocklist = blocklist_of(("video", 3, "opt_out_video"))
    with pytest.raises(KeyUnavailableError):
        flag_blocked(candidates(), blocklist, None)
    with pytest.raises(KeyMismatchError):
        flag_blocked(candidates(), blocklist, OTHER)


def test_flag_blocked_on_no_posts() -> None:
    blocklist = blocklist_of(("video", 3, "opt_out_video"))
    empty = candidates().filter(pl.lit(False))
    out = flag_blocked(empty, blocklist, KEY).collect()
    assert out.is_empty() and {REASON, DETAIL} <= set(out.columns)


# --- release check without the key ---------------------------------------------------------


def released(pairs: list[tuple[int, int]], chars: int = RELEASE_CHARS) -> pl.DataFrame:
    """Released rows: (video_id, creator_id) pseudonyms of (post_id, creator_id) pairs."""
    return pl.DataFrame(
        {
            "video_id": [pseudonym(KEY, "video", p, chars) for p, _ in pairs],
            "creator_id": [pseudonym(KEY, "creator", c, chars) for _, c in pairs],
        }
    )


@pytest.mark.parametrize("chars", [RELEASE_CHARS, 12, MAC_CHARS])
def test_removal_reasons_work_on_pseudonyms_without_the_key(chars: int) -> None:
    blocklist = blocklist_of(
        ("video", 2, "opt_out_video"),
        ("video", 3, "near_duplicate"),
        ("video", 5, "opt_out_video"),  # creator 30 is blocked too: the creator reason wins
        ("creator", 30, "opt_out_creator"),
        ("creator", 1, "opt_out_creator"),  # number of post 1, not of its creator
    )
    data = released([(1, 10), (2, 10), (3, 20), (4, 20), (5, 30), (6, 30)], chars)
    # removal_reasons takes no key: it compares pseudonyms with the MACs' prefixes.
    reasons = removal_reasons(data, blocklist)
    assert reasons.to_list() == [
        None,
        "opt_out_video",
        "near_duplicate",
        None,
        "opt_out_creator",
        "opt_out_creator",
    ]
    # Row order follows the released frame, not the blocklist.
    assert removal_reasons(data.reverse(), blocklist).to_list() == reasons.reverse().to_list()


def test_removal_reasons_of_an_empty_release_or_blocklist() -> None:
    data = released([(1, 10), (2, 20)])
    assert removal_reasons(data, Blocklist.empty()).to_list() == [None, None]
    assert removal_reasons(data.clear(), blocklist_of(("video", 1, "opt_out_video"))).len() == 0


# --- acceptance: a dictionary of all source IDs cannot map pseudonyms back without the key -


SOURCE_POSTS = 15_000
SOURCE_CREATORS = 5_000
EPOCH_MS = 1_288_834_974_657


def snowflakes(rng: np.random.Generator, n: int, start: str, end: str) -> list[int]:
    """Distinct snowflake-like int64 IDs: (ms since epoch) << 22 | worker << 12 | sequence."""
    lo, hi = (int(np.datetime64(t, "ms").astype(np.int64)) for t in (start, end))
    ms = rng.integers(lo, hi, n) - EPOCH_MS
    ids = (ms << 22) | (rng.integers(0, 1024, n) << 12) | rng.integers(0, 4096, n)
    return sorted(set(ids.tolist()))


def digit_runs_hits(data: bytes, ids: set[str]) -> set[str]:
    """The IDs (decimal text) that occur anywhere in `data`."""
    lengths = {len(i) for i in ids}
    found = set()
    for run in re.findall(rb"[0-9]+", data):
        text = run.decode()
        for n in lengths:
            found |= {text[j : j + n] for j in range(len(text) - n + 1)} & ids
    return found


def attacker_guesses(ids: list[int], wrong_key: bytes) -> set[str]:
    """Every digest an attacker with all source IDs (but not the key) can compute, in full and
    cut to release length."""
    guesses: set[str] = set()
    for value in ids:
        for text in (str(value), f"video:{value}", f"creator:{value}"):
            message = text.encode()
            for digest in (
                hashlib.sha256(message).hexdigest(),
                hashlib.md5(message).hexdigest(),
                hashlib.sha1(message).hexdigest(),
                hmac.new(b"", message, hashlib.sha256).hexdigest(),
                hmac.new(wrong_key, message, hashlib.sha256).hexdigest(),
            ):
                guesses.add(digest)
                guesses.add(digest[:RELEASE_CHARS])
    return guesses


def test_a_dictionary_of_all_source_ids_cannot_map_pseudonyms_back_without_the_key(
    tmp_path: Path,
) -> None:
    rng = np.random.default_rng(2021)
    post_ids = snowflakes(rng, SOURCE_POSTS, "2021-02-01", "2021-11-01")
    creator_ids = snowflakes(rng, SOURCE_CREATORS, "2014-01-01", "2021-01-01")
    all_ids = post_ids + creator_ids
    assert len(set(all_ids)) > 19_900
    assert min(all_ids) > 2**50 and max(all_ids) < 2**63  # snowflake-sized int64

    key = PseudonymKey("secret", random.Random(7).randbytes(32))
    videos = pseudonymize(pl.Series(post_ids, dtype=pl.Int64), key, "video", RELEASE_CHARS)
    creators = pseudonymize(pl.Series(creator_ids, dtype=pl.Int64), key, "creator", RELEASE_CHARS)
    released_ids = set(videos) | set(creators)
    assert len(released_ids) == len(all_ids)
    blocklist, added = add_entries(
        Blocklist.empty(),
        pl.concat(
            [
                pl.DataFrame({"kind": "video", "mac": macs(pl.Series(post_ids), key, "video")}),
                pl.DataFrame(
                    {"kind": "creator", "mac": macs(pl.Series(creator_ids), key, "creator")}
                ),
            ]
        ).with_columns(reason=pl.lit("opt_out_video")),
        key,
    )
    assert added == len(all_ids)
    blocklist_macs = set(blocklist.entries["mac"])
    targets = released_ids | blocklist_macs

    wrong_key = random.Random(8).randbytes(32)
    assert wrong_key != key.secret
    guesses = attacker_guesses(all_ids, wrong_key)
    assert len(guesses) > 20 * len(all_ids)
    assert not guesses & targets, "a pseudonym was recovered without the key"
    # By design the release pseudonyms are exactly the MACs' prefixes (that is what lets
    # `verify` work without the key); those prefixes are no easier to guess.
    assert released_ids == {m[:RELEASE_CHARS] for m in blocklist_macs}

    # Control: the same attack works against an unkeyed scheme ...
    unkeyed = {hashlib.sha256(f"video:{i}".encode()).hexdigest()[:RELEASE_CHARS] for i in post_ids}
    assert unkeyed <= guesses
    # ... and with the right key every pseudonym and MAC maps back to exactly one source ID.
    with_key: dict[str, int] = {}
    for value in post_ids:
        full = hmac.new(key.secret, f"video:{value}".encode(), hashlib.sha256).hexdigest()
        with_key[full] = with_key[full[:RELEASE_CHARS]] = value
    for value in creator_ids:
        full = hmac.new(key.secret, f"creator:{value}".encode(), hashlib.sha256).hexdigest()
        with_key[full] = with_key[full[:RELEASE_CHARS]] = value
    assert targets <= with_key.keys()
    assert {with_key[v] for v in videos} == set(post_ids)
    assert {with_key[c] for c in creators} == set(creator_ids)

    # The stored blocklist holds no raw ID as text, neither in its bytes nor once decoded.
    save_blocklist(tmp_path, blocklist)
    id_texts = {str(i) for i in all_ids}
    stored = OptOutFolder(tmp_path).blocklist.read_bytes()
    assert not digit_runs_hits(stored, id_texts)
    assert not digit_runs_hits(load_blocklist(tmp_path).entries.write_csv().encode(), id_texts)
    # Control: the same searches find raw IDs in a parquet file written the same way. Its data
    # pages are compressed, so in the bytes only the column statistics (min, max) show: the
    # decoded search is the one that sees every row.
    leaky = tmp_path / "leaky.parquet"
    replace_parquet(pl.DataFrame({"id": [str(i) for i in post_ids[:200]]}), leaky)
    assert digit_runs_hits(leaky.read_bytes(), id_texts)
    assert len(digit_runs_hits(pl.read_parquet(leaky).write_csv().encode(), id_texts)) == 200


def test_an_exact_re_upload_of_an_opted_out_file_is_flagged_by_its_media() -> None:
    blocklist = add_entries(
        Blocklist.empty(),
        pl.DataFrame(
            {"kind": ["media"], "mac": [mac(KEY, "media", "f" * 64)], "reason": ["opt_out_media"]}
        ),
        KEY,
    )[0]
    posts = pl.LazyFrame(
        {
            "post_id": [1, 2, 3],
            "creator_id": [10, 20, 30],
            "media_sha256": ["f" * 64, "e" * 64, "f" * 64],
        }
    )
    out = flag_blocked(posts, blocklist, KEY).collect()
    assert out["exclusion_detail"].to_list() == ["media", None, "media"]
    assert out["exclusion_reason"].to_list() == ["opted_out", None, "opted_out"]


def test_the_blocklist_lock_keeps_a_second_holder_waiting(tmp_path: Path) -> None:
    import threading

    from privacy.blocklist import blocklist_lock

    order: list[str] = []
    held = threading.Event()

    def first() -> None:
        with blocklist_lock(tmp_path):
            held.set()
            order.append("first in")
            threading.Event().wait(0.3)
            order.append("first out")

    thread = threading.Thread(target=first)
    thread.start()
    held.wait(5)
    with blocklist_lock(tmp_path):
        order.append("second in")
    thread.join()
    assert order == ["first in", "first out", "second in"]
