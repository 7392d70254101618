"""Scrubbing of free text (captions, hashtags) before release.

Captions carry @mentions of other creators, e-mail addresses, phone numbers and links to
profiles and posts; a release must not. `scrub_text` replaces each with a placeholder
(`<url>`, `<email>`, `@user`, `<phone>`) and leaves everything else — words in any of the 11
scripts, hashtags, years and counts, punctuation, emoji — as it was.

The patterns are polars (Rust `regex`) patterns, applied column-wise without Python callbacks.
They use Unicode classes on purpose: a handle such as `@सोनू_गीत` is letters *and* combining
marks (vowel signs, virama), where Python's `\\w` stops at the first mark and would leave most of
the handle behind; phone numbers may be written in any script's digits (`९८७६५ ४३२१०`).

Replacement order matters: URLs first (they may hold `@handle` and long numeric IDs), then
e-mails (they hold an `@`), then mentions, then phone numbers.

Known over-match: any run of 8 or more digits joined by spaces, hyphens, dots or parentheses
reads as a phone number, so full dates (`15.08.2021`, `2021-08-15`) and year ranges
(`2020-2021`) become `<phone>` too. That errs on the safe side: an exact date is itself a leak
the release gate looks for.
"""

from __future__ import annotations

import polars as pl

# Characters of a word in any script: letters, combining marks (Indic vowel signs, virama,
# nukta), digits of any script, and the zero-width (non-)joiners that Indic spelling uses.
_WORD = r"\p{L}\p{M}\p{N}\x{200C}\x{200D}"

# http(s):// or www. then anything up to whitespace, or a bare domain (ASCII labels, a TLD of
# 2+ letters) followed by a path. A trailing full stop, comma, quote or bracket is not part
# of the URL.
URL = (
    r"(?:(?i:https?://|www\.)|(?:[A-Za-z0-9\-]+\.)+[A-Za-z]{2,}/)"
    r"(?:\S*[^\s.,;:!?'\")\]}>])?"
)
# Local part and domain labels may be in any script (internationalised addresses); the domain
# needs at least one dot, and a full stop after the address is left alone.
EMAIL = rf"[{_WORD}_.+\-]+@[{_WORD}\-]+(?:\.[{_WORD}\-]+)+"
# `@` then letters, marks, digits and `_`; dots only between them, so "@asha.k." keeps its
# final full stop.
MENTION = rf"@[{_WORD}_]+(?:\.+[{_WORD}_]+)*"
# 8+ digits of any script, optional leading +, joined by at most three separators each.
PHONE = r"(?:\+\s?)?\(?\p{Nd}(?:[\s.()\-]{0,3}\p{Nd}){7,}"

REPLACEMENTS: list[tuple[str, str]] = [
    (URL, "<url>"),
    (EMAIL, "<email>"),
    (MENTION, "@user"),
    (PHONE, "<phone>"),
]


def scrub_text(expr: pl.Expr) -> pl.Expr:
    """`expr` (a String expression) with URLs, e-mails, @mentions and phone numbers replaced
    by placeholders; null stays null."""
    for pattern, placeholder in REPLACEMENTS:
        expr = expr.str.replace_all(pattern, placeholder)
    return expr


def scrub_columns(frame: pl.DataFrame, columns: list[str]) -> pl.DataFrame:
    """`frame` with `scrub_text` applied to each of `columns` that it has (String, or a List of
    String such as split hashtags); columns it lacks are skipped."""
    exprs: list[pl.Expr] = []
    for name in columns:
        if name not in frame.columns:
            continue
        dtype = frame.schema[name]
        if dtype == pl.String:
            exprs.append(scrub_text(pl.col(name)).alias(name))
        elif dtype == pl.List(pl.String):
            exprs.append(pl.col(name).list.eval(scrub_text(pl.element())).alias(name))
        else:
            raise TypeError(f"column {name!r} is {dtype}, not text: nothing to scrub")
    return frame.with_columns(exprs) if exprs else frame
