from pathlib import Path

import polars as pl
import pytest

from curation.annotations import vote_labels

TASKS = {
    "concept": "pets",
    "affect": "sad",
    "audio_type": "dialogue",
    "video_type": "self_shot",
    "language": "hi",
}


def write_inputs(
    tmp_path: Path,
    rows: list[tuple[str, int, str, str]],
    experts: list[tuple[int, str, str]],
    shortlist: list[int],
) -> tuple[Path, Path]:
    ann = tmp_path / "ann"
    ann.mkdir()
    pl.DataFrame(
        rows, schema=["annotator_id", "post_id", "task", "label"], orient="row"
    ).write_parquet(ann / "annotations.parquet")
    pl.DataFrame(
        experts, schema={"post_id": pl.Int64, "task": pl.String, "label": pl.String}, orient="row"
    ).with_columns(expert_id=pl.lit("e1")).write_parquet(ann / "expert_resolutions.parquet")
    pl.DataFrame({"post_id": shortlist}).write_parquet(tmp_path / "shortlist.parquet")
    return ann, tmp_path / "shortlist.parquet"


def unanimous(post: int, skip: str | None = None) -> list[tuple[str, int, str, str]]:
    return [
        (a, post, t, label) for a in ("a1", "a2", "a3") for t, label in TASKS.items() if t != skip
    ]


def test_majority_expert_and_hold_back(tmp_path: Path) -> None:
    rows = unanimous(1)
    # Post 2: concept 2-of-3 majority; affect three-way tie with an expert answer.
    rows += [
        *unanimous(2, skip="concept"),
        ("a1", 2, "concept", "pets"),
        ("a2", 2, "concept", "pets"),
        ("a3", 2, "concept", "magic"),
    ]
    rows = [r for r in rows if not (r[1] == 2 and r[2] == "affect")]
    rows += [
        ("a1", 2, "affect", "sad"),
        ("a2", 2, "affect", "kindness"),
        ("a3", 2, "affect", "fear"),
    ]
    # Post 3: three-way tie, no expert → needs_expert. Post 4: two annotators → needs_annotation.
    rows += [r for r in unanimous(3) if r[2] != "audio_type"]
    rows += [
        ("a1", 3, "audio_type", "dialogue"),
        ("a2", 3, "audio_type", "monologue"),
        ("a3", 3, "audio_type", "instrumental"),
    ]
    rows += [r for r in unanimous(4) if r[0] != "a3"]
    ann, shortlist = write_inputs(tmp_path, rows, [(2, "affect", "kindness")], [1, 2, 3, 4])
    result = vote_labels(ann, shortlist)
    labels = {r["post_id"]: r for r in result.labels.iter_rows(named=True)}
    assert set(labels) == {1, 2}
    assert labels[2]["concept"] == "pets" and labels[2]["affect"] == "kindness"
    assert dict(result.held_back.iter_rows()) == {3: "needs_expert", 4: "needs_annotation"}
    assert result.resolutions["expert"] == 1 and result.resolutions["needs_expert"] == 1


def test_rejected_rows_do_not_vote(tmp_path: Path) -> None:
    rows = unanimous(1)
    rows += [
        ("a4", 1, "concept", "unicorns"),  # not in the taxonomy
        ("a1", 99, "concept", "pets"),  # not a shortlisted post
        ("a1", 1, "concept", "pets"),
    ]  # the same annotator twice
    # Without the rejections, a fourth concept vote would exist; with them, three remain.
    ann, shortlist = write_inputs(tmp_path, rows, [], [1])
    result = vote_labels(ann, shortlist)
    assert result.rejected == {
        "label_not_in_taxonomy": 1,
        "unknown_post": 1,
        "duplicate_annotation": 1,
    }
    assert result.labels["concept"].to_list() == ["pets"]


def test_an_expert_label_outside_the_taxonomy_is_ignored(tmp_path: Path) -> None:
    rows = [r for r in unanimous(1) if r[2] != "concept"]
    rows += [
        ("a1", 1, "concept", "pets"),
        ("a2", 1, "concept", "magic"),
        ("a3", 1, "concept", "memes"),
    ]
    ann, shortlist = write_inputs(tmp_path, rows, [(1, "concept", "unicorns")], [1])
    result = vote_labels(ann, shortlist)
    assert result.labels.is_empty() and result.held_back["reason"].to_list() == ["needs_expert"]


def test_missing_input_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="annotations input missing"):
        vote_labels(tmp_path, tmp_path / "shortlist.parquet")
