"""Assembling a release's rows: vote, then the blocklist, splits, masking and k-anonymity, each
a step of the release flow. Every row a step drops is recorded, with its reason, in the
release's `Funnel` (kept, with raw post IDs, in the version's private build folder).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import polars as pl

from curation.annotations.splits import assign_splits
from curation.annotations.taxonomy import ANNOTATED_TASKS
from curation.annotations.vote import VoteResult, check_annotations_match, vote_labels
from curation.config import ReleaseConfig
from curation.release.inputs import ReleaseInputs
from privacy.blocklist import Blocklist, flag_blocked, macs, removal_reasons
from privacy.kanon import DEFAULT_LADDER, KAnonReport, k_anonymize
from privacy.keys import PseudonymKey
from privacy.masking import PERIOD_FORMAT, RELEASED_POST_COLUMNS, mask_posts
from privacy.pseudonyms import pseudonymize
from storage.exclusions import DETAIL, REASON, Funnel, exclusion_rows
from storage.local import LocalStore

PERIODS = list(PERIOD_FORMAT)  # finest first
LABEL_COLUMNS = [t for t in ANNOTATED_TASKS if t not in RELEASED_POST_COLUMNS]


@dataclass(frozen=True)
class ReleaseRows:
    """The rows on their way into a release: labeled (`table` = labeled) and unlabeled."""

    posts: pl.DataFrame
    voted_creators: pl.Series  # creators of the voted posts, for the parent's splits
    accounts: Funnel = field(default_factory=Funnel)
    removals: dict[str, int] = field(default_factory=dict)  # for the manifest, by reason


@dataclass
class MaskedTables:
    labeled: pl.DataFrame  # released columns + labels + split
    unlabeled: pl.DataFrame
    kanon: KAnonReport
    removals: dict[str, int]  # videos left out of the release, by reason (blocklist, k-anon)
    accounts: Funnel  # every row left out, by stage


def vote(config: ReleaseConfig, inputs: ReleaseInputs) -> VoteResult:
    result = vote_labels(inputs.shortlist, inputs.annotations, inputs.experts, inputs.gold)
    check_annotations_match(result, config.max_unknown_annotation_share)
    failed = result.gate.filter(~pl.col("passed"))
    alphas = result.agreement.filter(pl.col("scope") == "taxonomy").select("task", "alpha")
    print(
        f"onboarding: {failed['annotator_id'].n_unique()} annotators failed the gold set for "
        f"{failed.height} tasks; alpha "
        + ", ".join(f"{t} {a:.3f}" for t, a in alphas.iter_rows() if a is not None)
    )
    return result


def voted_posts(inputs: ReleaseInputs, votes: VoteResult) -> ReleaseRows:
    """The shortlisted posts the vote settled (held-back posts are the vote's exclusions),
    with the unlabeled companions. Both are masked together, so the pseudonym collision check
    spans the release."""
    # The annotators' language label replaces the platform's tag.
    voted = inputs.shortlist.drop("language").join(votes.labels, on="post_id", how="inner")
    accounts = Funnel()
    held = votes.held_back.select("post_id", "reason")
    accounts.add("vote", inputs.shortlist.height, voted.height, exclusion_rows(held, "vote"))
    both = pl.concat(
        [
            voted.with_columns(table=pl.lit("labeled")),
            inputs.companion.with_columns(table=pl.lit("unlabeled")),
        ],
        how="diagonal_relaxed",
    )
    return ReleaseRows(both, voted["creator_id"].unique(), accounts)


def drop_blocklisted(rows: ReleaseRows, blocklist: Blocklist, key: PseudonymKey) -> ReleaseRows:
    """Posts the blocklist names (opted-out videos and creators, their near-duplicates) leave
    before anything else is decided."""
    flagged = flag_blocked(rows.posts.lazy(), blocklist, key).collect()
    gone = flagged.filter(pl.col(REASON).is_not_null())
    reasons = removal_reasons(
        gone.select(
            macs(gone["post_id"], key, "video").alias("video_id"),
            macs(gone["creator_id"], key, "creator").alias("creator_id"),
        ),
        blocklist,
    )
    kept = flagged.filter(pl.col(REASON).is_null()).drop(REASON, DETAIL)
    dropped = gone.select(
        "post_id",
        pl.coalesce(pl.Series(reasons), pl.col(REASON)).alias("reason"),
        pl.col(DETAIL).alias("detail"),
    )
    rows.accounts.add(
        "blocklist", flagged.height, kept.height, exclusion_rows(dropped, "blocklist")
    )
    return replace(rows, posts=kept, removals=dict(sorted(reasons.value_counts().iter_rows())))


def parent_splits(
    config: ReleaseConfig, creators: pl.Series, key: PseudonymKey
) -> pl.DataFrame | None:
    """(creator_id, split) of the creators the parent version already placed: a patch release
    must not move a creator between train and test. The parent holds pseudonyms only, so the
    current creators are pseudonymized with the same key and matched."""
    if not config.parent:
        return None
    parent = LocalStore(config.store).version_dir(config.dataset, config.parent) / "labeled"
    placed = pl.concat(
        [
            pl.read_parquet(f, columns=["creator_id"]).with_columns(
                split=pl.lit(f.name.split("-")[0])
            )
            for f in sorted(parent.glob("*.parquet"))
        ]
    ).unique("creator_id")
    mine = pl.DataFrame(
        {
            "creator_id": creators,
            "pseudonym": pseudonymize(creators, key, "creator", config.masking.pseudonym_chars),
        }
    )
    return mine.join(placed.rename({"creator_id": "pseudonym"}), on="pseudonym").select(
        "creator_id", "split"
    )


def split_labeled(config: ReleaseConfig, rows: ReleaseRows, key: PseudonymKey) -> ReleaseRows:
    """Creator-disjoint train / validation / test for the labeled rows; a patch of a parent
    keeps each creator where the parent put it."""
    both = rows.posts
    labeled = assign_splits(
        both.filter(pl.col("table") == "labeled"),
        config.bundle.split_ratios,
        config.bundle.split_seed,
        parent_splits(config, rows.voted_creators, key),
    )
    posts = pl.concat(
        [labeled, both.filter(pl.col("table") == "unlabeled")], how="diagonal_relaxed"
    )
    return replace(rows, posts=posts)


def mask(config: ReleaseConfig, rows: ReleaseRows, key: PseudonymKey) -> ReleaseRows:
    """Pseudonyms, coarse dates, scrubbed text, allow-listed columns (and, until k-anonymity
    is decided, the raw post ID and timestamp, which never reach the bundle)."""
    extra = [*LABEL_COLUMNS, "split", "table", "created_ts", "post_id"]
    return replace(rows, posts=mask_posts(rows.posts, key, config.masking, extra))


def k_anonymize_rows(config: ReleaseConfig, rows: ReleaseRows) -> MaskedTables:
    """Generalise to the finest k-anonymous level the config allows; small classes leave."""
    m = config.masking
    ladder = [
        g for g in DEFAULT_LADDER if PERIODS.index(g.period) >= PERIODS.index(m.date_granularity)
    ]
    masked = rows.posts
    released, kanon = k_anonymize(masked, m.k, ladder, m.max_suppressed_share)
    removals = dict(rows.removals)
    if kanon.rows_suppressed:
        removals["k_anonymity"] = kanon.rows_suppressed
    small = masked.join(released.select("post_id"), on="post_id", how="anti")
    rows.accounts.add(
        "k_anonymity",
        masked.height,
        released.height,
        exclusion_rows(small.with_columns(reason=pl.lit(f"class_below_k{m.k}")), "k_anonymity"),
    )
    released = released.drop("created_ts", "post_id")
    return MaskedTables(
        released.filter(pl.col("table") == "labeled").drop("table"),
        released.filter(pl.col("table") == "unlabeled").select(RELEASED_POST_COLUMNS),
        kanon,
        removals,
        rows.accounts,
    )
