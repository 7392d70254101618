"""Sample first, screen after: the pool is the weighted sample a screen-everything-first draw
gives. The reference here screens every eligible post (the blocklist on all of them, the
stages' own functions), then draws with the sampler directly."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from curation.annotations.taxonomy import languages
from curation.config import CurateConfig, SamplingConfig, ShortlistConfig, VideoConfig
from curation.stages import engagement, ingest, sensitive, window
from curation.stages.dedup import flag_exact_duplicates
from curation.stages.sampling import allocate_quotas, choose_sampled, sampling_keys, stratum_counts
from curation.stages.shortlist import select_companions
from flows.curate import curate
from privacy.blocklist import Blocklist, add_entries, flag_blocked, macs, save_blocklist
from privacy.keys import create_key_file, load_key
from storage.exclusions import REASON
from synth.export import synthesize_export

POSTS = 60_000
POOL = 6_000


@pytest.fixture(scope="module")
def drawn(harness: None, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, CurateConfig]:
    """An export, a blocklist holding a fifth of its creators, and a curate run over both."""
    root = tmp_path_factory.mktemp("pool")
    synthesize_export(root / "export", POSTS, seed=5)
    key_file = root / "key"
    create_key_file(key_file)
    key = load_key(key_file, "k1")
    creators = pl.read_parquet(root / "export" / "posts")["creator_id"].unique().sort()
    blocked = creators.filter(creators % 5 == 0)
    posts = pl.read_parquet(root / "export" / "posts")["post_id"].unique().sort()
    videos = posts.filter(posts % 9 == 0)  # so that some companion candidates are dropped too
    entries = pl.concat(
        [
            pl.DataFrame(
                {
                    "kind": "creator",
                    "mac": macs(blocked, key, "creator"),
                    "reason": "opt_out_creator",
                }
            ),
            pl.DataFrame(
                {"kind": "video", "mac": macs(videos, key, "video"), "reason": "opt_out_video"}
            ),
        ]
    )
    save_blocklist(root / "optout", add_entries(Blocklist.empty(), entries, key)[0])
    config = CurateConfig(
        export_dir=root / "export",
        output_dir=root / "curation",
        opt_out_dir=root / "optout",
        key_file=key_file,
        sampling=SamplingConfig(pool_size=POOL, margin=0.05),  # too small: top-ups must run
        shortlist=ShortlistConfig(size=500, companion_size=800),
        video=VideoConfig(enabled=False),
        workers=0,
    )
    curate(config)
    return root, config


def screened_everything(config: CurateConfig) -> pl.DataFrame:
    """Every post that passes every stage, screened before any draw."""
    key = load_key(config.key_file, "k1")
    from privacy.blocklist import load_blocklist

    blocklist = load_blocklist(config.opt_out_dir)
    valid = ingest.flag_invalid_posts(ingest.scan_posts(config.export_dir), languages())
    valid = valid.filter(pl.col(REASON).is_null()).drop(REASON).collect().lazy()
    scoped = window.flag_out_of_scope(
        engagement.score_engagement(valid, config.engagement), config.window
    )
    scoped = scoped.filter(pl.col(REASON).is_null()).drop(REASON).collect().lazy()
    safe = sensitive.flag_sensitive(scoped, config.sensitive, valid)
    safe = safe.filter(pl.col(REASON).is_null()).drop(REASON, "exclusion_detail")
    unique = flag_exact_duplicates(safe.collect().lazy())
    unique = unique.filter(pl.col(REASON).is_null()).drop(REASON, "exclusion_detail")
    allowed = flag_blocked(unique.collect().lazy(), blocklist, key)
    return allowed.filter(pl.col(REASON).is_null()).drop(REASON, "exclusion_detail").collect()


def test_the_pool_is_the_top_keys_of_the_screened_posts(
    drawn: tuple[Path, CurateConfig],
) -> None:
    """With the run's own quotas, the reference draw picks the very same posts: exact."""
    root, config = drawn
    pool = pl.read_parquet(root / "curation" / "pool.parquet")
    funnel = (root / "curation" / "funnel.json").read_text()
    doc = json.loads(funnel)
    assert doc["rounds"]["pool"] > 1  # the margin was too small: strata drew again
    assert next(s for s in doc["stages"] if s["stage"] == "blocklist")["excluded"] > 0
    reference = screened_everything(config)
    strata = stratum_counts(reference.lazy())
    quotas = pl.read_parquet(root / "curation" / "quotas.parquet").select(
        "language", "month", "quota"
    )
    keys = sampling_keys(reference.lazy(), strata, config.sampling.seed, 1.0).collect()
    chosen = choose_sampled(keys, strata.join(quotas, on=["language", "month"]))
    assert pool.height == POOL
    assert pool["post_id"].to_list() == chosen.to_list()


def test_stratum_shares_and_engagement_match_a_reference_draw(
    drawn: tuple[Path, CurateConfig],
) -> None:
    """Against the reference's own quotas (allocated from screened counts): the same strata in
    nearly the same shares, and the same engagement distribution."""
    root, config = drawn
    pool = pl.read_parquet(root / "curation" / "pool.parquet")
    reference = screened_everything(config)
    strata = stratum_counts(reference.lazy())
    quotas = allocate_quotas(strata, POOL, {})
    keys = sampling_keys(reference.lazy(), strata, config.sampling.seed, 1.0).collect()
    ref_pool = reference.filter(pl.col("post_id").is_in(choose_sampled(keys, quotas).implode()))

    def shares(frame: pl.DataFrame) -> dict[tuple[str, int], float]:
        counts = frame.group_by("language", pl.col("created_ts").dt.month()).len()
        return {(r[0], r[1]): r[2] / frame.height for r in counts.iter_rows()}

    ours, theirs = shares(pool), shares(ref_pool)
    assert ours.keys() == theirs.keys()
    assert max(abs(ours[k] - theirs[k]) for k in ours) < 0.005
    # Two-sample Kolmogorov–Smirnov distance of the engagement scores.
    a = np.sort(pool["engagement_score"].to_numpy())
    b = np.sort(ref_pool["engagement_score"].to_numpy())
    grid = np.concatenate([a, b])
    ks = np.max(
        np.abs(
            np.searchsorted(a, grid, "right") / a.size - np.searchsorted(b, grid, "right") / b.size
        )
    )
    assert ks < 0.03
    # And far from an unweighted draw of the same size: the weighting is real.
    uniform = reference.sample(POOL, seed=1)["engagement_score"].median()
    assert pool["engagement_score"].median() > 1.5 * uniform  # type: ignore[operator]


def test_the_companions_are_what_selecting_from_every_screened_post_gives(
    drawn: tuple[Path, CurateConfig],
) -> None:
    """Only the most recent posts of the shortlisted creators were fetched and screened; the
    companions are still exactly those a selection over every screened post picks."""
    root, config = drawn
    shortlist = pl.read_parquet(root / "curation" / "shortlist.parquet")
    companions = pl.read_parquet(root / "curation" / "companion.parquet")
    screening = json.loads((root / "curation" / "funnel.json").read_text())
    expected = select_companions(
        screened_everything(config).lazy(), shortlist.lazy(), config.shortlist
    ).collect()
    assert companions.height == expected.height > 0
    assert sorted(companions["post_id"]) == sorted(expected["post_id"])
    screened = screening["companion_screening"]
    assert screened["excluded"] > 0  # the blocklist dropped some candidates: stand-ins were used
