"""The permanent opt-out blocklist: keyed MACs of opted-out videos and creators, never raw IDs.

The blocklist is personal data too (it says who asked to leave), so it holds only
HMAC-SHA256(key, "video:<post_id>") and HMAC-SHA256(key, "creator:<creator_id>") in full, the
same messages the pseudonyms are cut from. That gives three things at once:
  - curation can check a raw ID against it (computing the MAC), without ever storing the ID;
  - a release's pseudonyms are prefixes of these MACs, so `massiv verify` can test
    "blocklist ∩ release = ∅" without the key;
  - without the key, a dictionary of every platform ID cannot tell who is on it.
Entries are only ever added, in numbered batches; a manifest commits to the entries up to its
batch (a sha256), so the commitment can be re-checked later against the grown list.
"""

from __future__ import annotations

import fcntl
import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from privacy.keys import KeyMismatchError, KeyUnavailableError, PseudonymKey
from privacy.pseudonyms import keyed, pseudonym
from storage.exclusions import DETAIL, REASON
from storage.runs import OptOutFolder
from storage.tables import replace_parquet

# Frame hashes of opted-out videos (mac, frames): curation removes their re-uploads and copies.
MAC_CHARS = 64  # the whole HMAC: pseudonyms of any length are its prefixes
SCHEMA = {
    "kind": pl.String,  # video | creator
    "mac": pl.String,
    "reason": pl.String,  # opt_out_video | opt_out_creator | near_duplicate
    "batch": pl.Int64,
    "key_version": pl.String,
    "key_fingerprint": pl.String,
}
# Blocklist kind → source column. "media" is the checksum of an opted-out video's file: an
# exact re-upload by anyone else is the same video, under a new post ID.
KINDS = {"video": "post_id", "creator": "creator_id", "media": "media_sha256"}


def mac(key: PseudonymKey, kind: str, value: int | str) -> str:
    return pseudonym(key, kind, value, MAC_CHARS)


def macs(values: pl.Series, key: PseudonymKey, kind: str) -> pl.Series:
    """The MAC of each value (computed once per distinct value)."""
    return keyed(values, key, kind, MAC_CHARS)


@dataclass(frozen=True)
class Blocklist:
    entries: pl.DataFrame

    @classmethod
    def empty(cls) -> Blocklist:
        return cls(pl.DataFrame(schema=SCHEMA))

    @property
    def batch(self) -> int:
        """The latest batch number (0 when empty)."""
        return int(self.entries["batch"].max() or 0) if self.entries.height else 0  # type: ignore[arg-type]

    def upto(self, batch: int) -> Blocklist:
        return Blocklist(self.entries.filter(pl.col("batch") <= batch))

    def of_kind(self, kind: str) -> pl.Series:
        return self.entries.filter(pl.col("kind") == kind)["mac"]

    def check_key(self, key: PseudonymKey) -> None:
        """MACs under another key never match: applying them would silently block nothing."""
        other = self.entries.filter(
            (pl.col("key_version") != key.version) | (pl.col("key_fingerprint") != key.fingerprint)
        )
        if other.height:
            raise KeyMismatchError(
                f"the blocklist holds {other.height} entries made under another key "
                f"(key version {sorted(set(other['key_version']))}); it can only be applied with "
                "that key"
            )

    def commitment(self) -> dict[str, Any]:
        """sha256 over the sorted "kind:mac" lines: what a manifest commits to."""
        lines = sorted(f"{k}:{m}" for k, m in self.entries.select("kind", "mac").iter_rows())
        digest = hashlib.sha256(("\n".join(lines) + "\n" if lines else "").encode()).hexdigest()
        return {"sha256": digest, "entries": len(lines), "batch": self.batch}


@contextmanager
def blocklist_lock(folder: Path) -> Iterator[None]:
    """Held by the opt-out flow for its whole run and by a release from reading the blocklist
    to publishing: a release cannot publish rows opted out meanwhile, and two opt-out runs
    cannot overwrite each other's blocklist batch. (A lock file; local filesystems only.)"""
    folder.mkdir(parents=True, exist_ok=True)
    with OptOutFolder(folder).lock.open("a") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def load_blocklist(folder: Path) -> Blocklist:
    path = OptOutFolder(folder).blocklist
    if not path.is_file():
        return Blocklist.empty()
    return Blocklist(pl.read_parquet(path).cast(SCHEMA))  # type: ignore[arg-type]


def save_blocklist(folder: Path, blocklist: Blocklist) -> None:
    """Replace the file atomically: a crash keeps the old list."""
    replace_parquet(blocklist.entries.sort("batch", "kind", "mac"), OptOutFolder(folder).blocklist)


def add_entries(
    blocklist: Blocklist, new: pl.DataFrame, key: PseudonymKey
) -> tuple[Blocklist, int]:
    """Add (kind, mac, reason) rows not already listed, as the next batch; returns the count."""
    fresh = new.select("kind", "mac", "reason").unique(["kind", "mac"], keep="first")
    fresh = fresh.join(blocklist.entries.select("kind", "mac"), on=["kind", "mac"], how="anti")
    if fresh.is_empty():
        return blocklist, 0
    rows = fresh.sort("kind", "mac").with_columns(
        batch=pl.lit(blocklist.batch + 1, dtype=pl.Int64),
        key_version=pl.lit(key.version),
        key_fingerprint=pl.lit(key.fingerprint),
    )
    return Blocklist(pl.concat([blocklist.entries, rows])), rows.height


def flag_blocked(
    posts: pl.LazyFrame, blocklist: Blocklist, key: PseudonymKey | None
) -> pl.LazyFrame:
    """Curation stage: posts whose video, creator or media file is on the blocklist get
    `opted_out` (detail: creator, video or media), so an opted-out video never re-enters a
    candidate pool, not even re-uploaded by someone else."""
    if blocklist.entries.is_empty():
        return posts.with_columns(
            pl.lit(None, pl.String).alias(REASON), pl.lit(None, pl.String).alias(DETAIL)
        )
    if key is None:
        raise KeyUnavailableError("the blocklist has entries: the pseudonym key is needed")
    blocklist.check_key(key)
    present = [k for k, c in KINDS.items() if c in posts.collect_schema().names()]
    ids = posts.select(KINDS[k] for k in present).collect()
    hits = {
        kind: pl.col(KINDS[kind]).is_in(
            ids[KINDS[kind]]
            .filter(macs(ids[KINDS[kind]], key, kind).is_in(blocklist.of_kind(kind).implode()))
            .implode()
        )
        for kind in present
    }
    detail = pl.lit(None, pl.String)
    for kind in reversed(["creator", "video", "media"]):  # the first that applies names it
        if kind in hits:
            detail = pl.when(hits[kind]).then(pl.lit(kind)).otherwise(detail)
    return posts.with_columns(
        pl.when(detail.is_not_null()).then(pl.lit("opted_out")).alias(REASON),
        detail.alias(DETAIL),
    )


def removal_reasons(released: pl.DataFrame, blocklist: Blocklist) -> pl.Series:
    """The blocklist reason that removes each released row (video_id, creator_id pseudonyms;
    null: not blocked); a creator-wide opt-out wins over a video entry. Pseudonyms are
    prefixes of the MACs, so this needs no key."""
    chars = int(released["video_id"].str.len_chars().max() or MAC_CHARS)  # type: ignore[arg-type]
    by_video = blocklist.entries.filter(pl.col("kind") == "video").select(
        pl.col("mac").str.slice(0, chars).alias("video_id"), pl.col("reason").alias("_video")
    )
    by_creator = blocklist.entries.filter(pl.col("kind") == "creator").select(
        pl.col("mac").str.slice(0, chars).alias("creator_id"), pl.col("reason").alias("_creator")
    )
    joined = (
        released.select("video_id", "creator_id")
        .with_row_index("_row")
        .join(by_video.unique("video_id"), on="video_id", how="left")
        .join(by_creator.unique("creator_id"), on="creator_id", how="left")
        .sort("_row")
    )
    return joined.select(pl.coalesce("_creator", "_video").alias("reason"))["reason"]


def load_blocked_frames(folder: Path) -> pl.DataFrame | None:
    path = OptOutFolder(folder).blocked_frames
    return pl.read_parquet(path) if path.is_file() else None


def add_blocked_frames(folder: Path, new: pl.DataFrame) -> int:
    """Keep the frame hashes (mac, frames) of newly opted-out videos; returns videos added."""
    old = load_blocked_frames(folder)
    if old is not None:
        new = new.join(old.select("mac"), on="mac", how="anti")
    if new.is_empty():
        return 0
    both = pl.concat([old, new]) if old is not None else new
    replace_parquet(both.sort("mac"), OptOutFolder(folder).blocked_frames)
    return new.height
