from pathlib import Path

import numpy as np
import polars as pl
import pytest

from curation.annotations.taxonomy import ANNOTATED_TASKS, languages, load_taxonomy
from curation.annotations.vote import nominal_alpha
from curation.stages.ingest import flag_invalid_posts, scan_posts
from synth.annotations import ANNOTATION_ALPHA, synthesize_annotations, true_labels
from synth.export import SNOWFLAKE_EPOCH_MS, synthesize_export


def mean(series: pl.Series) -> float:
    return float(np.mean(series.cast(pl.Float64).to_numpy()))


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("export")
    synthesize_export(out, 60_000, seed=3)
    return out


def test_same_seed_same_bytes(export: Path, tmp_path: Path) -> None:
    synthesize_export(tmp_path / "again", 60_000, seed=3)
    synthesize_export(tmp_path / "other", 60_000, seed=4)
    first = (export / "posts" / "part-00000.parquet").read_bytes()
    assert (tmp_path / "again" / "posts" / "part-00000.parquet").read_bytes() == first
    assert (tmp_path / "other" / "posts" / "part-00000.parquet").read_bytes() != first
    assert (tmp_path / "again" / "opt_out_requests.csv").read_bytes() == (
        export / "opt_out_requests.csv"
    ).read_bytes()


def test_shape_follows_the_paper(export: Path) -> None:
    posts = pl.read_parquet(export / "posts")
    valid = posts.filter(
        pl.col("language").is_in(languages())
        & (pl.col("duration_s") > 0)
        & (pl.col("duration_s") < 1000)
        & (pl.col("view_count") >= 0)
    )
    share = valid["language"].value_counts(normalize=True).sort("proportion", descending=True)
    assert share["language"][0] == "hi" and share["proportion"][0] > 0.3
    assert set(share["language"]) == set(languages())
    in_bounds = valid.filter(pl.col("duration_s").is_between(4.5, 116))
    assert 17 < mean(in_bounds["duration_s"]) < 23  # paper: mean ≈ 20 s
    assert in_bounds.height / valid.height > 0.9
    views = valid["view_count"]
    assert np.quantile(views.to_numpy(), 0.99) > 50 * np.median(views.to_numpy())  # heavy tail
    assert np.corrcoef(np.log1p(valid["view_count"]), np.log1p(valid["like_count"]))[0, 1] > 0.5
    per_creator = posts.drop_nulls("creator_id").group_by("creator_id").len()["len"]
    assert (
        mean(per_creator == 1) > 0.5 and per_creator.to_numpy().max() > 100
    )  # most post once, few a lot


def test_ids_encode_creation_time_like_a_platform(export: Path) -> None:
    posts = pl.read_parquet(export / "posts").head(1000)
    from_id = ((posts["post_id"] // 2**22) + SNOWFLAKE_EPOCH_MS).cast(pl.Datetime("ms"))
    stated = posts["created_at"].str.to_datetime("%Y-%m-%dT%H:%M:%S%.fZ", strict=False)
    agree = (from_id == stated).fill_null(True)
    assert mean(agree) > 0.99


def test_leaky_fields_are_present(export: Path) -> None:
    posts = pl.read_parquet(export / "posts")
    creators = pl.read_parquet(export / "creators")
    assert mean(posts["caption"].str.contains("@")) > 0.05
    assert posts["caption"].str.contains(r"\+91 \d{10}").any()
    assert posts["caption"].str.contains(r"@mail\.example").any()
    handle = creators["handle"][0]
    assert posts["media_url"].str.contains(handle, literal=True).any()
    assert (
        posts["moderation_label"].drop_nulls().len() > 0
        and posts["report_count"].to_numpy().max() > 5
    )


def test_every_kind_of_bad_row_is_planted(export: Path) -> None:
    flagged = flag_invalid_posts(scan_posts(export), languages()).collect()
    reasons = set(flagged["exclusion_reason"].drop_nulls().str.split(";").explode())
    assert {
        "duplicate_post_id",
        "missing_creator_id",
        "missing_language",
        "unknown_language",
        "unparseable_created_at",
        "invalid_duration",
        "negative_count",
    } <= reasons
    assert 0.001 < mean(flagged["exclusion_reason"].is_not_null()) < 0.01


def test_opt_out_requests_mix_good_bad_repeated_unknown(export: Path) -> None:
    requests = pl.read_csv(export / "opt_out_requests.csv", infer_schema=False)
    assert set(requests["scope"]) >= {"video", "creator"}
    assert requests["target"].is_duplicated().any()
    assert requests["target"].str.contains("/@nobody_").any()
    malformed = ~requests["target"].fill_null("").str.starts_with("https://")
    assert malformed.any()


def test_annotations_agree_like_the_paper(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    langs = languages()

    def posts(offset: int, n: int) -> pl.DataFrame:
        ids = rng.choice(2**50, n, replace=False).astype(np.int64) + offset
        return pl.DataFrame({"post_id": ids, "language": rng.choice(langs, n)})

    shortlist_posts = posts(2**52, 4_000)
    shortlist = shortlist_posts["post_id"].to_numpy()
    counts = synthesize_annotations(shortlist_posts, posts(2**53, 1_000), tmp_path, seed=5)
    assert counts["gold_posts"] == 100
    ann = pl.read_parquet(tmp_path / "annotations.parquet")
    gold = pl.read_parquet(tmp_path / "gold_labels.parquet")
    answers = pl.read_parquet(tmp_path / "gold_annotations.parquet")
    accuracy = (
        answers.join(gold, on=["post_id", "task"], suffix="_gold")
        .group_by("annotator_id")
        .agg((pl.col("label") == pl.col("label_gold")).mean().alias("acc"))
    )
    passing = accuracy.filter(pl.col("acc") >= 0.45)["annotator_id"].to_list()
    assert 85 <= len(passing) < 95  # a few candidates fail the gold-set benchmark
    taxonomy = load_taxonomy()
    for task in ANNOTATED_TASKS:
        rows = ann.filter(
            (pl.col("task") == task)
            & pl.col("annotator_id").is_in(passing)
            & pl.col("label").is_in(taxonomy[task])
            & pl.col("post_id").is_in(shortlist.tolist())
        )
        alpha = nominal_alpha(
            rows.unique(["annotator_id", "post_id", "task"]).rename({"post_id": "unit"})
        )
        assert alpha == pytest.approx(ANNOTATION_ALPHA[task], abs=0.05), task
    resolved = pl.read_parquet(tmp_path / "expert_resolutions.parquet")
    assert resolved.height > 0 and set(resolved["task"]) <= set(ANNOTATED_TASKS)
    assert (
        ann.filter(~pl.col("post_id").is_in(shortlist.tolist())).height > 0
    )  # planted unknown posts
    assert (ann["label"] == "unicorns").any()


def test_language_labels_mostly_confirm_the_platform_tag(tmp_path: Path) -> None:
    ids = np.arange(1, 20_001, dtype=np.int64)
    posts = pl.DataFrame({"post_id": ids, "language": np.resize(np.array(languages()), len(ids))})
    truth = np.array(languages())[true_labels(posts, "language", seed=1)]
    wrong = float(np.mean(truth != posts["language"].to_numpy()))
    assert 0.005 < wrong < 0.03


def test_an_export_can_carry_real_video_for_clean_posts(tmp_path: Path) -> None:
    import hashlib

    from curation.config import WindowConfig
    from curation.stages.window import flag_out_of_scope

    synthesize_export(tmp_path, 5_000, seed=4, video_sources=1)
    truth = pl.read_parquet(tmp_path / "media_truth.parquet")
    assert truth.height == 1 + 12 + 3 and truth["source_id"].null_count() == 3
    for sha in truth["media_sha256"]:
        data = (tmp_path / "media" / f"{sha}.mp4").read_bytes()
        assert hashlib.sha256(data).hexdigest() == sha
    valid = flag_invalid_posts(scan_posts(tmp_path), languages())
    with_media = (
        flag_out_of_scope(valid, WindowConfig())
        .collect()
        .join(truth, on="media_sha256", suffix="_clip")
    )
    assert with_media.height == truth.height
    assert with_media["exclusion_reason"].null_count() == truth.height  # all reach the video stage
    assert (with_media["duration_s"] == with_media["duration_s_clip"]).all()
