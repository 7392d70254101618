"""Leak gate: before a release is published, every file of the staged bundle is scanned for
identifying values taken from the source rows of the released posts.

Kinds of leak: raw post and creator IDs, handles (from media URLs and @mentions), exact
timestamps and dates finer than the release's granularity, e-mail addresses and phone numbers
(from captions). Parquet files are read cell by cell (every column as text, split into tokens)
plus their key/value metadata; every other file (card, Croissant, stats, changelog, figures)
is scanned as text. A hit fails the release with a report naming the file, the column (or
"text") and the count — never the value itself, so the report can be logged and shared.

Text is cut into candidates several ways, so a value glued to punctuation is still found whole:
tokens of word characters and `@.+:-`, the same cut at colons too (edge punctuation, @
included, stripped from both: a handle written without its @ is found too), dates, and the
digits of phone-shaped runs (matched against phone numbers only). Digits glued to letters are
not split out: a pseudonym's hex would then match a 10-digit creator ID now and then. Counts
are of cells or lines. Needles can be kept keyed (`KeyedNeedles`: HMACs under the pseudonym
key, never the values), so a patch release years later is scanned for the same values without
keeping the raw source.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq

from privacy import scrub
from privacy.keys import PseudonymKey
from privacy.pseudonyms import keyed
from storage.tables import replace_parquet

TOKEN = r"[\w@.+:-]+"
PIECE = r"[\w@.+-]+"  # a token cut at colons too: "post_id:1356…" gives the ID
DATE = r"\d{4}-\d{2}-\d{2}"
EDGES = ".:+-@,;!?'\"()[]{}<>"
URL_HANDLE = re.compile(r"/v/([^/]+)/")  # the platform's media URLs carry the uploader's handle


@dataclass(frozen=True)
class LeakHit:
    file: str
    column: str  # a Parquet column, "metadata", or "text"
    kind: str
    count: int

    def __str__(self) -> str:
        return f"{self.file} [{self.column}]: {self.count} {self.kind}"


class LeakError(RuntimeError):
    """Identifying values found in a staged release; nothing was published."""

    def __init__(self, hits: list[LeakHit]) -> None:
        listed = "; ".join(str(h) for h in hits[:10])
        more = f" (+{len(hits) - 10} more)" if len(hits) > 10 else ""
        super().__init__(
            f"leak gate: {len(hits)} finding(s), release not published: {listed}{more}"
        )
        self.hits = hits


@dataclass
class Needles:
    """What must not appear, by kind (exact tokens; phone numbers as digits only)."""

    by_kind: dict[str, set[str]] = field(default_factory=dict)

    def add(self, kind: str, values: Iterable[str]) -> None:
        self.by_kind.setdefault(kind, set()).update(v for v in values if v)

    def table(self) -> pl.DataFrame:
        """(token, kind) of every needle; phone numbers as their digits."""
        rows = [(v, k) for k, values in sorted(self.by_kind.items()) for v in sorted(values)]
        return pl.DataFrame(rows, schema={"token": pl.String, "kind": pl.String}, orient="row")

    def keyed(self, key: PseudonymKey) -> KeyedNeedles:
        table = self.table()
        return KeyedNeedles(
            table.with_columns(keyed(table["token"], key, NEEDLE_KIND, MAC_HEX)), key
        )


NEEDLE_KIND, MAC_HEX = "needle", 64


@dataclass(frozen=True)
class KeyedNeedles:
    """Needles as HMACs of their values: what a version keeps to leak-scan its patches."""

    table: pl.DataFrame  # (token = HMAC hex, kind)
    key: PseudonymKey

    def save(self, path: Path) -> None:
        replace_parquet(self.table.sort("kind", "token"), path)

    @classmethod
    def load(cls, path: Path, key: PseudonymKey) -> KeyedNeedles:
        return cls(pl.read_parquet(path), key)


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def needles_from_source(posts: pl.DataFrame, granularity: str) -> Needles:
    """Needles from the source rows (post_id, creator_id, created_at, media_url, caption)."""
    n = Needles()
    n.add("post_id", map(str, posts["post_id"].to_list()))
    n.add("creator_id", map(str, posts["creator_id"].to_list()))
    created = [str(v) for v in posts["created_at"].drop_nulls().to_list()]
    n.add("timestamp", created)
    if granularity in ("week", "month"):  # a day is finer than the release shows
        n.add("date", (c[:10] for c in created if re.match(r"\d{4}-\d{2}-\d{2}", c)))
    texts = pl.concat(
        [posts[c].cast(pl.String) for c in ("caption", "hashtags") if c in posts.columns]
        or [pl.Series([], dtype=pl.String)]
    ).drop_nulls()

    def found(pattern: str, in_texts: pl.Series) -> list[str]:
        # The scrubber's own patterns (polars regex: letters and marks of every script), so the
        # gate looks for exactly what scrubbing must remove.
        return in_texts.str.extract_all(pattern).explode().drop_nulls().unique().to_list()

    urls = (
        [str(v) for v in posts["media_url"].drop_nulls().to_list()]
        if "media_url" in posts.columns
        else []
    )
    handles = {m for u in urls for m in URL_HANDLE.findall(u)}
    without_emails = texts.str.replace_all(scrub.EMAIL, " ")
    handles |= {m.removeprefix("@") for m in found(scrub.MENTION, without_emails)}
    n.add("handle", handles | {f"@{h}" for h in handles})
    n.add("email", found(scrub.EMAIL, texts))
    phones = [d for m in found(scrub.PHONE, texts) if len(d := _digits(m)) >= 8]
    # Also without the country code: "+91 98765 43210" leaks as "98765-43210" too.
    n.add("phone", phones + [d[-10:] for d in phones if len(d) > 10])
    return n


def _candidates(long: pl.DataFrame, dates: bool) -> pl.DataFrame:
    """(_row, column, token, phone) for every way a value may sit in the text (see the module
    docstring); each distinct text of a column is cut once."""
    distinct = long.group_by("column", "text").agg(pl.col("_row"))
    text = pl.col("text")

    def cut(pattern: str, phone: bool = False) -> pl.DataFrame:
        tokens = (
            distinct.select(pl.int_range(pl.len()).alias("_text"), text.str.extract_all(pattern))
            .explode("text")
            .drop_nulls("text")
        )
        value = pl.col("text")
        # The digits of a phone-shaped run count as a phone number only: inside a
        # pseudonym's hex they would otherwise pass for an ID.
        value = value.str.replace_all(r"\D", "") if phone else value.str.strip_chars(EDGES)
        return tokens.select("_text", value.alias("token"), phone=pl.lit(phone))

    patterns = [TOKEN, PIECE, *([DATE] if dates else [])]  # dates: only when they are needles
    found = pl.concat([*(cut(p) for p in patterns), cut(scrub.PHONE, phone=True)]).unique()
    return (
        found.filter(pl.col("token") != "")
        .join(distinct.select(pl.int_range(pl.len()).alias("_text"), "column", "_row"), on="_text")
        .explode("_row")
        .drop("_text")
    )


def _findings(long: pl.DataFrame, table: pl.DataFrame, key: PseudonymKey | None) -> pl.DataFrame:
    """(column, kind, count) for a long frame of (column, text); `table` (token, kind) holds
    the needles, as HMACs under `key` when a key is given."""
    candidates = _candidates(long.with_row_index("_row"), (table["kind"] == "date").any())
    if key is not None:
        candidates = candidates.with_columns(keyed(candidates["token"], key, NEEDLE_KIND, MAC_HEX))
    return (
        candidates.join(table, on="token")
        .filter(~pl.col("phone") | (pl.col("kind") == "phone"))
        .unique(["column", "token", "kind", "_row"])
        .group_by("column", "kind")
        .len("count")
        .cast({"count": pl.Int64})
    )


def scan_bundle(
    root: Path, needles: Needles | KeyedNeedles, skip: frozenset[str] = frozenset()
) -> list[LeakHit]:
    """Every finding in every file under root but those in `skip` (relative paths), sorted by
    file, column, kind."""
    hits: list[LeakHit] = []
    keyed_by = needles.key if isinstance(needles, KeyedNeedles) else None
    table = needles.table if isinstance(needles, KeyedNeedles) else needles.table()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = path.relative_to(root).as_posix()
        if rel in skip:
            continue
        if path.suffix == ".parquet":
            frame = pl.read_parquet(path)
            parts = [
                frame.select(pl.lit(c).alias("column"), pl.col(c).cast(pl.String).alias("text"))
                for c in frame.columns
            ]
            meta = pq.read_metadata(path).metadata or {}
            meta_text = b" ".join([*meta.keys(), *meta.values()]).decode("utf-8", "replace")
            parts.append(pl.DataFrame({"column": ["metadata"], "text": [meta_text]}))
            long = pl.concat(parts).drop_nulls("text")
        else:
            lines = path.read_bytes().decode("utf-8", "replace").splitlines()
            long = pl.DataFrame(
                {"column": "text", "text": lines}, schema={"column": pl.String, "text": pl.String}
            )
        for column, kind, count in (
            _findings(long, table, keyed_by).sort("column", "kind").iter_rows()
        ):
            hits.append(LeakHit(rel, column, kind, count))
    return hits


def check_bundle(
    root: Path, needles: Needles | KeyedNeedles, skip: frozenset[str] = frozenset()
) -> None:
    """Raise LeakError when anything is found."""
    hits = scan_bundle(root, needles, skip)
    if hits:
        raise LeakError(hits)
