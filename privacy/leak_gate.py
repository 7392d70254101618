"""Leak gate: before a release is published, every file of the staged bundle is scanned for
identifying values taken from the source rows of the released posts.

Kinds of leak: raw post and creator IDs, handles (from media URLs and @mentions), exact
timestamps and dates finer than the release's granularity, e-mail addresses and phone numbers
(from captions). Parquet files are read cell by cell (every column as text, split into tokens)
plus their key/value metadata; every other file (card, Croissant, stats, changelog, figures)
is scanned as text. A hit fails the release with a report naming the file, the column (or
"text") and the count — never the value itself, so the report can be logged and shared.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq

from privacy import scrub

TOKEN = r"[\w@.+:-]+"
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
    n.add("phone", (d for m in found(scrub.PHONE, texts) if len(d := _digits(m)) >= 8))
    return n


def _needle_table(needles: Needles) -> pl.DataFrame:
    """(token, kind) of every needle; phone numbers are matched separately, by digits."""
    rows = [(v, k) for k, values in needles.by_kind.items() if k != "phone" for v in values]
    return pl.DataFrame(rows, schema={"token": pl.String, "kind": pl.String}, orient="row")


def _findings(long: pl.DataFrame, table: pl.DataFrame, phones: pl.Series) -> pl.DataFrame:
    """(column, kind, count) for a long frame of (column, text)."""
    tokens = long.select("column", pl.col("text").str.extract_all(TOKEN).alias("token")).explode(
        "token"
    )
    found = tokens.join(table, on="token").group_by("column", "kind").len("count")
    numbers = (
        long.select("column", pl.col("text").str.extract_all(scrub.PHONE).alias("number"))
        .explode("number")
        .drop_nulls()
        .with_columns(pl.col("number").str.replace_all(r"\D", ""))
        .filter(pl.col("number").is_in(phones.implode()))
        .group_by("column")
        .len("count")
        .with_columns(kind=pl.lit("phone"))
        .select("column", "kind", "count")
    )
    return pl.concat([found.cast({"count": pl.Int64}), numbers.cast({"count": pl.Int64})])


def scan_bundle(root: Path, needles: Needles) -> list[LeakHit]:
    """Every finding in every file under root (sorted by file, column, kind)."""
    table = _needle_table(needles)
    phones = pl.Series(sorted(needles.by_kind.get("phone", set())), dtype=pl.String)
    hits: list[LeakHit] = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = path.relative_to(root).as_posix()
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
            _findings(long, table, phones).sort("column", "kind").iter_rows()
        ):
            hits.append(LeakHit(rel, column, kind, count))
    return hits


def check_bundle(root: Path, needles: Needles) -> None:
    """Raise LeakError when anything is found."""
    hits = scan_bundle(root, needles)
    if hits:
        raise LeakError(hits)
