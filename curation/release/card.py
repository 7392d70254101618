"""The release documents itself: a dataset card (README.md with a Hugging Face YAML header and
datasheet sections) and stats.json (the paper's Table 2), both from the released tables only.

Everything here is derived from what the bundle already holds (pseudonymous tables, agreement,
split shares, counts), so the card cannot say more about a person than the data does. No
wall-clock time: the same release gives the same bytes.
"""

from __future__ import annotations

import json
from typing import Any

import polars as pl

from curation.annotations.splits import SPLITS

LICENSE_NAME = "massiv research-only license"
LICENSE_LINK = "LICENSE.md"
TASKS = ["video-classification"]
DURATION_COLUMN = "duration_s"


def size_category(n: int) -> str:
    """Hugging Face size bucket for n examples."""
    for limit, name in [
        (1_000, "n<1K"),
        (10_000, "1K<n<10K"),
        (100_000, "10K<n<100K"),
        (1_000_000, "100K<n<1M"),
        (10_000_000, "1M<n<10M"),
    ]:
        if n < limit:
            return name
    return "n>10M"


def dataset_stats(
    labeled: pl.DataFrame, unlabeled: pl.DataFrame, annotators: int, agreement: pl.DataFrame
) -> dict[str, Any]:
    """The paper's Table 2 for this release: videos, hours, durations, creators, languages,
    annotators; plus alpha per taxonomy."""

    def part(df: pl.DataFrame) -> dict[str, Any]:
        d = df[DURATION_COLUMN]
        return {
            "videos": df.height,
            "hours": round(float(d.sum()) / 3600, 2),
            "mean_duration_s": round(float(d.mean()), 2) if df.height else None,  # type: ignore[arg-type]
            "median_duration_s": round(float(d.median()), 2) if df.height else None,  # type: ignore[arg-type]
            "creators": df["creator_id"].n_unique(),
            "languages": df["language"].n_unique(),
        }

    alpha = agreement.filter(pl.col("scope") == "taxonomy").select("task", "alpha")
    return {
        "labeled": part(labeled),
        "unlabeled": part(unlabeled),
        "splits": {s: int((labeled["split"] == s).sum()) for s in SPLITS},
        "annotators_who_passed_onboarding": annotators,
        "annotators_per_video": 3,
        "krippendorff_alpha": {
            t: (round(a, 3) if a is not None else None) for t, a in alpha.sort("task").iter_rows()
        },
    }


def stats_json(stats: dict[str, Any]) -> str:
    return json.dumps(stats, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _yaml_header(dataset: str, version: str, languages: list[str], examples: int) -> str:
    split_files = "\n".join(f"  - split: {s}\n    path: labeled/{s}-*.parquet" for s in SPLITS)
    langs = "\n".join(f"- {code}" for code in languages)
    return f"""---
pretty_name: {dataset} {version}
license: other
license_name: {LICENSE_NAME}
license_link: {LICENSE_LINK}
language:
{langs}
size_categories:
- {size_category(examples)}
task_categories:
{chr(10).join(f"- {t}" for t in TASKS)}
annotations_creators:
- expert-generated
source_datasets:
- original
configs:
- config_name: labeled
  default: true
  data_files:
{split_files}
- config_name: unlabeled
  data_files:
  - split: train
    path: unlabeled/*.parquet
---
"""


def _table(df: pl.DataFrame, columns: list[str]) -> str:
    head = "| " + " | ".join(columns) + " |\n|" + "---|" * len(columns) + "\n"
    rows = "".join(
        "| " + " | ".join("" if v is None else str(v) for v in row) + " |\n"
        for row in df.select(columns).iter_rows()
    )
    return head + rows


def dataset_card(
    dataset: str,
    version: str,
    stats: dict[str, Any],
    languages: list[str],
    agreement: pl.DataFrame,
    split_shares: pl.DataFrame,
    kanon: dict[str, Any],
    changelog: str,
) -> str:
    """README.md for the bundle: HF YAML header, then the datasheet sections. `kanon`: the
    manifest's k-anonymity record (k, level: period and duration_step_s, rows_suppressed)."""
    level = kanon.get("level") or {}
    period = level.get("period", "week")
    step = level.get("duration_step_s")
    duration_text = (
        f"`duration_s` (the middle of its {step}-second bin)" if step else "`duration_s`"
    )
    lab, unl = stats["labeled"], stats["unlabeled"]
    alphas = agreement.filter(pl.col("scope") == "taxonomy").with_columns(pl.col("alpha").round(3))
    by_language = split_shares.filter(pl.col("stratum").is_in(["all", "language"]))
    examples = lab["videos"] + unl["videos"]
    return (
        _yaml_header(dataset, version, languages, examples)
        + f"""
# {dataset} {version}

Short social-media videos in {lab["languages"]} languages, labeled by expert annotators for
concept, affect, audio type, video type and language, with an unlabeled companion set of the
same creators' recent videos. Built after the 3MASSIV dataset (CVPR 2022).

| | videos | hours | mean / median duration (s) | creators | languages |
|---|---|---|---|---|---|
| labeled | {lab["videos"]} | {lab["hours"]} | {lab["mean_duration_s"]} / {lab["median_duration_s"]} | {lab["creators"]} | {lab["languages"]} |
| unlabeled | {unl["videos"]} | {unl["hours"]} | {unl["mean_duration_s"]} / {unl["median_duration_s"]} | {unl["creators"]} | {unl["languages"]} |

Splits (labeled): train {stats["splits"]["train"]}, validation {stats["splits"]["validation"]},
test {stats["splits"]["test"]}. Full figures: `stats.json`.

## Motivation

A research benchmark for multilingual, multimodal understanding of short videos and of their
creators, released for non-commercial research only.

## Composition

Each row is one video: pseudonymous `video_id` and `creator_id` (keyed HMAC-SHA256; the same
video keeps its pseudonym across versions), `language`, `published` (coarsened to the {period}),
{duration_text}, view/like/share/comment counts, `media_url` (built from the pseudonym alone; the
media are served to approved researchers only), `caption` and `hashtags` (with @mentions,
e-mail addresses, phone numbers and URLs replaced by `@user`, `<email>`, `<phone>`, `<url>`),
and for labeled videos the four labels. Label names and definitions: `taxonomy.parquet`.

k-anonymity: every combination of language, `published`, `duration_s` and the creator's number
of videos in the release (1, 2-3, 4-7, 8+) is shared by at least {kanon.get("k", 1)} videos; the
period and bin above are the finest at which that held, and {kanon.get("rows_suppressed", 0)}
videos that would still have stood out were left out.

## Collection

Posts were sampled from a short-video platform by engagement (an engagement-weighted sample,
stratified by language and month), after removing invalid rows, posts outside the collection
window or duration bounds, reported or moderated posts, posts with sensitive terms, exact
re-uploads and near-duplicate videos (perceptual hashes of decoded frames), and known sensitive
media. A shortlist of the sample went to annotation.

## Preprocessing and labeling

Candidate annotators first labeled a gold set; those below the accuracy bar for a taxonomy had
all their labels of it discarded. Three annotators labeled each video per taxonomy; a strict
majority decided, an expert resolved three-way disagreements, and videos without a settled label
were held back rather than guessed. Inter-annotator agreement (Krippendorff's alpha, nominal; per
label and per language in `agreement.parquet`):

{_table(alphas, ["task", "alpha", "units"])}
Splits are 60/20/20, creator-disjoint (no creator appears in two splits) and stratified by
concept and language; achieved shares (`splits.parquet` has them per concept too):

{_table(by_language, ["stratum", "level", "videos", "train", "validation", "test"])}
## Uses

Intended: research on short-video classification, affect, audio and multilingual content, and
creator modelling with the unlabeled companion set. Not intended: identifying, profiling or
contacting creators, or any commercial use.

## Distribution

On request, to approved researchers who accept the research-only license ({LICENSE_NAME});
every access is logged.

## Maintenance

Creators can ask for their videos or their whole account to be removed (opt-out). Each opt-out
batch produces a patch release without those videos; earlier versions that contained them are
withdrawn, and holders are notified. Changes between versions are in `CHANGELOG.md`; each file's
checksum is in `manifest.json`.

## Changelog

{changelog.removeprefix("# Changelog").strip().replace("## ", "### ")}
"""
    )


def license_text(dataset: str) -> str:
    return f"""# {LICENSE_NAME}

1. {dataset} is made available to approved researchers for non-commercial research and teaching
   only. No redistribution: share the dataset only with members of your approved project.
2. Do not try to identify, profile or contact the people in the data, or to link the data with
   other data for that purpose.
3. Honour removals: when a version is withdrawn (for example after opt-out requests), delete
   your copies of it and use the newer version.
4. Cite the dataset in work that uses it. The data come without any warranty.
"""
