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

TOKEN = r"[\w@.+:-]+"
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
PHONE = re.compile(r"\+?\d[\d\s-]{7,}\d")
MENTION = re.compile(r"@([\w.]+)")
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
    texts = [
        str(v)
        for col in ("caption", "hashtags")
        if col in posts.columns
        for v in posts[col].drop_nulls().to_list()
    ]
    urls = (
        [str(v) for v in posts["media_url"].drop_nulls().to_list()]
        if "media_url" in posts.columns
        else []
    )
    handles = {m for u in urls for m in URL_HANDLE.findall(u)}
    handles |= {m.rstrip(".") for t in texts for m in MENTION.findall(t)}
    n.add("handle", handles | {f"@{h}" for h in handles})
    n.add("email", (m for t in texts for m in EMAIL.findall(t)))
    n.add("phone", (d for t in texts for m in PHONE.findall(t) if len(d := _digits(m)) >= 8))
    return n


def _tokens(values: pl.Series) -> pl.Series:
    return values.cast(pl.String).str.extract_all(TOKEN).explode().drop_nulls()


def _count(tokens: pl.Series, strings: pl.Series, needles: Needles) -> dict[str, int]:
    found: dict[str, int] = {}
    for kind, values in needles.by_kind.items():
        if kind == "phone":
            digits = strings.str.extract_all(PHONE.pattern).explode().drop_nulls()
            hits = int(digits.str.replace_all(r"\D", "").is_in(list(values)).sum())
        else:
            hits = int(tokens.is_in(list(values)).sum())
        if hits:
            found[kind] = hits
    return found


def scan_bundle(root: Path, needles: Needles) -> list[LeakHit]:
    """Every finding in every file under root (sorted by file, column, kind)."""
    hits: list[LeakHit] = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = path.relative_to(root).as_posix()
        if path.suffix == ".parquet":
            frame = pl.read_parquet(path)
            for column in frame.columns:
                strings = frame[column].cast(pl.String).drop_nulls()
                for kind, n in _count(_tokens(strings), strings, needles).items():
                    hits.append(LeakHit(rel, column, kind, n))
            meta = pq.read_metadata(path).metadata or {}
            text = pl.Series([b" ".join([*meta.keys(), *meta.values()]).decode("utf-8", "replace")])
            for kind, n in _count(_tokens(text), text, needles).items():
                hits.append(LeakHit(rel, "metadata", kind, n))
        else:
            text = pl.Series(path.read_bytes().decode("latin-1").splitlines())
            for kind, n in _count(_tokens(text), text, needles).items():
                hits.append(LeakHit(rel, "text", kind, n))
    return hits


def check_bundle(root: Path, needles: Needles) -> None:
    """Raise LeakError when anything is found."""
    hits = scan_bundle(root, needles)
    if hits:
        raise LeakError(hits)
