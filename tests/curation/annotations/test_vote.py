import polars as pl
import pytest

from curation.annotations.vote import (
    AnnotationMismatchError,
    GoldSet,
    VoteResult,
    check_annotations_match,
    vote_labels,
)

TASKS = {
    "concept": "pets",
    "affect": "sad",
    "audio_type": "dialogue",
    "video_type": "self_shot",
    "language": "hi",
}
Row = tuple[str, int, str, str]


def vote(rows: list[Row], experts: list[tuple[int, str, str]], shortlist: list[int]) -> VoteResult:
    annotations = pl.DataFrame(
        rows, schema=["annotator_id", "post_id", "task", "label"], orient="row"
    )
    expert = pl.DataFrame(
        [(*e, f"e{i}") for i, e in enumerate(experts)],
        schema={"post_id": pl.Int64, "task": pl.String, "label": pl.String, "expert_id": pl.String},
        orient="row",
    )
    return vote_labels(pl.DataFrame({"post_id": shortlist}), annotations, expert)


def unanimous(
    post: int, annotators: tuple[str, ...] = ("a1", "a2", "a3"), skip: str = ""
) -> list[Row]:
    return [(a, post, t, label) for a in annotators for t, label in TASKS.items() if t != skip]


def concept(post: int, *labels: str) -> list[Row]:
    return [(f"a{i + 1}", post, "concept", label) for i, label in enumerate(labels)]


def test_majority_expert_and_hold_back() -> None:
    rows = unanimous(1)
    rows += unanimous(2, skip="concept") + concept(2, "pets", "pets", "magic")  # 2 of 3
    rows += unanimous(3, skip="concept") + concept(3, "pets", "magic", "memes")  # tie, expert
    rows += unanimous(4, skip="concept") + concept(4, "pets", "magic", "memes")  # tie, no expert
    rows += unanimous(5, annotators=("a1", "a2"))  # two annotators only
    result = vote(rows, [(3, "concept", "memes")], [1, 2, 3, 4, 5])
    labels = {r["post_id"]: r for r in result.labels.iter_rows(named=True)}
    assert set(labels) == {1, 2, 3}
    assert labels[2]["concept"] == "pets" and labels[3]["concept"] == "memes"
    assert dict(result.held_back.iter_rows()) == {4: "needs_expert", 5: "needs_annotation"}
    assert result.resolutions["expert"] == 1 and result.resolutions["needs_expert"] == 1


def test_two_of_four_is_not_a_majority() -> None:
    rows = unanimous(1, annotators=("a1", "a2", "a3", "a4"), skip="concept")
    rows += concept(1, "fails", "fails", "pets", "pets")
    rows += unanimous(2, annotators=("a1", "a2", "a3", "a4", "a5"), skip="concept")
    rows += concept(2, "fails", "fails", "pets", "pets", "memes")
    result = vote(rows, [(1, "concept", "pets")], [1, 2])
    assert result.labels["concept"].to_list() == ["pets"]  # the expert settled post 1
    assert dict(result.held_back.iter_rows()) == {2: "needs_expert"}


def test_rejected_rows_do_not_vote_and_do_not_cancel_valid_ones() -> None:
    rows = unanimous(1, skip="concept") + concept(1, "pranks", "pranks", "pranks")
    rows += [
        ("a1", 1, "concept", "Pets"),  # not in the taxonomy: rejected, a1's "pranks" still counts
        ("a1", 99, "concept", "pets"),  # not a shortlisted post
        ("a2", 1, "concept", "pranks"),  # the same label again: counted once
    ]
    result = vote(rows, [], [1])
    assert result.rejected == {
        "label_not_in_taxonomy": 1,
        "unknown_post": 1,
        "duplicate_annotation": 1,
    }
    assert result.labels["concept"].to_list() == ["pranks"]


def test_an_annotator_who_contradicts_themself_is_set_aside() -> None:
    rows = unanimous(1, skip="concept") + concept(1, "pets", "pets", "memes")
    rows += [("a1", 1, "concept", "fails")]  # a1 said pets and fails
    result = vote(rows, [], [1])
    assert result.rejected == {"conflicting_annotation": 2}
    assert dict(result.held_back.iter_rows()) == {1: "needs_annotation"}  # 2 valid annotators left


def test_experts_who_disagree_settle_nothing() -> None:
    rows = unanimous(1, skip="concept") + concept(1, "pets", "magic", "memes")
    result = vote(rows, [(1, "concept", "couple_romance"), (1, "concept", "fails")], [1])
    assert dict(result.held_back.iter_rows()) == {1: "needs_expert"}


def test_an_expert_label_outside_the_taxonomy_is_ignored() -> None:
    rows = unanimous(1, skip="concept") + concept(1, "pets", "magic", "memes")
    result = vote(rows, [(1, "concept", "unicorns")], [1])
    assert result.labels.is_empty() and result.held_back["reason"].to_list() == ["needs_expert"]


def test_annotations_for_another_shortlist_are_refused() -> None:
    result = vote(unanimous(1) + unanimous(7) + unanimous(8), [], [1])
    with pytest.raises(
        AnnotationMismatchError, match="30 of 45 rows name posts that are not in it"
    ):
        check_annotations_match(result, 0.05)
    check_annotations_match(result, 0.9)


def gold_set(answers: list[Row], min_accuracy: float = 0.5, min_items: int = 2) -> GoldSet:
    labels = pl.DataFrame(
        [(100 + i, "concept", "pets") for i in range(4)],
        schema={"post_id": pl.Int64, "task": pl.String, "label": pl.String},
        orient="row",
    )
    return GoldSet(
        labels,
        pl.DataFrame(answers, schema=["annotator_id", "post_id", "task", "label"], orient="row"),
        min_accuracy,
        min_items,
    )


def test_the_gold_gate_discards_every_label_of_a_weak_or_untested_annotator() -> None:
    # a1, a2, a3 pass the concept gold test; a4 gets 1 of 4 right; a5 never took it.
    answers = [(a, 100 + i, "concept", "pets") for a in ("a1", "a2", "a3") for i in range(4)]
    answers += [("a4", 100, "concept", "pets")]
    answers += [("a4", 100 + i, "concept", "pranks") for i in range(1, 4)]
    rows = [
        ("a4", 1, "concept", "pranks"),
        ("a5", 1, "concept", "pranks"),
        *concept(1, *["pets"] * 3),
    ]
    annotations = pl.DataFrame(
        rows, schema=["annotator_id", "post_id", "task", "label"], orient="row"
    )
    no_experts = pl.DataFrame(
        schema={"post_id": pl.Int64, "task": pl.String, "label": pl.String, "expert_id": pl.String}
    )
    shortlist = pl.DataFrame({"post_id": [1]})
    gated = vote_labels(shortlist, annotations, no_experts, gold_set(answers))
    assert gated.rejected == {"failed_gold_gate": 1, "not_onboarded": 1}
    gate = {r["annotator_id"]: r for r in gated.gate.iter_rows(named=True)}
    assert gate["a4"]["accuracy"] == 0.25 and not gate["a4"]["passed"] and gate["a1"]["passed"]
    # Without the gate a4 and a5 count (pets 3, pranks 2): nothing is set aside.
    ungated = vote_labels(shortlist, annotations, no_experts)
    assert ungated.rejected == {}
    alpha = {(r["scope"], r["task"]): r["alpha"] for r in gated.agreement.iter_rows(named=True)}
    assert ("taxonomy", "concept") in alpha


def test_too_few_gold_answers_do_not_pass() -> None:
    answers = [("a1", 100, "concept", "pets")]  # right, but one item of the two required
    gold = gold_set(answers, min_items=2)
    result = vote_labels(
        pl.DataFrame({"post_id": [1]}),
        pl.DataFrame(
            [("a1", 1, "concept", "pets")],
            schema=["annotator_id", "post_id", "task", "label"],
            orient="row",
        ),
        pl.DataFrame(
            schema={
                "post_id": pl.Int64,
                "task": pl.String,
                "label": pl.String,
                "expert_id": pl.String,
            }
        ),
        gold,
    )
    assert result.rejected == {"failed_gold_gate": 1}
