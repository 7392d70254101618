"""Simulated annotators for a shortlist: three labels per post and task, a gold set, expert
tie resolutions; agreement calibrated to the paper's, deterministic from a seed.

Made after curation, because annotators only see the shortlist that curation picks (the
platform export itself is `synth.export`).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import polars as pl

from curation.annotations.taxonomy import ANNOTATED_TASKS, load_taxonomy
from curation.hashing import splitmix64_np
from storage.runs import AnnotationsFolder, CurationRun

# Krippendorff's alpha the paper reports per taxonomy (Table 6). With an annotator who gives the
# true label with probability p and otherwise a draw from the label marginal, alpha = p², so an
# accuracy of sqrt(alpha) reproduces the paper's agreement for annotators who pass onboarding.
PAPER_ALPHA = {"concept": 0.77, "affect": 0.40, "audio_type": 0.59, "video_type": 0.62}
# The paper reports no agreement on language; confirming a language tag is easy, so we assume
# high agreement. About 2% of platform language tags are wrong and the annotators correct them.
ASSUMED_ALPHA = {"language": 0.90}
ANNOTATION_ALPHA = {**PAPER_ALPHA, **ASSUMED_ALPHA}
WRONG_LANGUAGE_TAG = 0.02
ANNOTATOR_POOL = 95
WEAK_ANNOTATORS = 6  # candidates who would fail the gold-set benchmark
GOLD_POSTS = 100


def label_marginals(n_labels: int) -> np.ndarray:
    """A Zipf-like label distribution: a few labels common, a long tail rare (as in Fig. 3)."""
    weights = 1.0 / np.arange(1, n_labels + 1) ** 0.9
    return weights / weights.sum()


def true_labels(posts: pl.DataFrame, task: str, seed: int) -> np.ndarray:
    """The hidden ground-truth label index of each post (post_id, language) for one task, a
    function of its ID; for language, the platform's tag except for a few wrong tags."""
    labels = load_taxonomy()[task]
    post_ids = posts["post_id"].to_numpy().astype(np.uint64)
    salt = np.uint64(seed * 1_000_003 + ANNOTATED_TASKS.index(task) + 1)
    u = splitmix64_np(post_ids ^ salt) / np.float64(2**64)
    drawn = np.minimum(np.searchsorted(np.cumsum(label_marginals(len(labels))), u), len(labels) - 1)
    if task != "language":
        return drawn
    tagged = posts["language"].replace_strict({v: i for i, v in enumerate(labels)}).to_numpy()
    wrong = splitmix64_np(post_ids ^ ~salt) / np.float64(2**64) < WRONG_LANGUAGE_TAG
    return np.where(wrong, drawn, tagged)


def _annotator_accuracy(rng: np.random.Generator) -> dict[str, np.ndarray]:
    acc = {}
    for task, alpha in ANNOTATION_ALPHA.items():
        p = np.clip(math.sqrt(alpha) + rng.normal(0, 0.03, ANNOTATOR_POOL), 0.05, 0.99)
        p[:WEAK_ANNOTATORS] = rng.uniform(0.15, 0.35, WEAK_ANNOTATORS)
        acc[task] = p
    return acc


def _label(
    rng: np.random.Generator, truth: np.ndarray, accuracy: np.ndarray, n_labels: int
) -> np.ndarray:
    guess = rng.choice(n_labels, size=len(truth), p=label_marginals(n_labels))
    return np.where(rng.random(len(truth)) < accuracy, truth, guess)


def synthesize_annotations(
    shortlist: pl.DataFrame, gold_candidates: pl.DataFrame, out_dir: Path, seed: int = 7
) -> dict[str, int]:
    """Three annotators per shortlisted post and task, a gold set, expert tie resolutions.

    `shortlist` and `gold_candidates` have post_id and language (the platform's tag).

    Writes the files of `AnnotationsFolder(out_dir)` (annotations, gold labels, gold
    annotations, expert resolutions), with a few rows a validator must reject.
    """
    rng = np.random.default_rng([seed, 2022])
    out_dir.mkdir(parents=True, exist_ok=True)
    folder = AnnotationsFolder(out_dir)
    taxonomy = load_taxonomy()
    annotators = np.array([f"ann{i:03d}" for i in range(ANNOTATOR_POOL)])
    order = rng.permutation(ANNOTATOR_POOL)  # weak annotators are not the first IDs
    accuracy = {t: a[np.argsort(order)] for t, a in _annotator_accuracy(rng).items()}
    shortlist = shortlist.select("post_id", "language").sort("post_id")
    post_ids = shortlist["post_id"].to_numpy()
    n = len(post_ids)
    # Three distinct annotators per post.
    trio = (
        np.argsort(rng.random((n, ANNOTATOR_POOL)), axis=1)[:, :3] if n else np.zeros((0, 3), int)
    )

    frames, experts = [], []
    for task in ANNOTATED_TASKS:
        labels = taxonomy[task]
        truth = true_labels(shortlist, task, seed)
        given = np.stack(
            [_label(rng, truth, accuracy[task][trio[:, k]], len(labels)) for k in range(3)], 1
        )
        for k in range(3):
            frames.append(
                pl.DataFrame(
                    {
                        "annotator_id": annotators[trio[:, k]],
                        "post_id": post_ids,
                        "task": task,
                        "label": pl.Series(labels).gather(pl.Series(given[:, k])),
                    }
                )
            )
        tie = (
            (given[:, 0] != given[:, 1])
            & (given[:, 1] != given[:, 2])
            & (given[:, 0] != given[:, 2])
        )
        answered = tie & (rng.random(n) < 0.9)  # an expert could not settle every tie
        experts.append(
            pl.DataFrame(
                {
                    "post_id": post_ids[answered],
                    "task": task,
                    "label": pl.Series(labels).gather(pl.Series(truth[answered])),
                    "expert_id": rng.choice(["exp01", "exp02", "exp03"], int(answered.sum())),
                }
            )
        )
    annotations = pl.concat(frames)
    # Rows a validator must reject: off-taxonomy labels, unknown posts, repeated rows.
    bad = max(3, n // 2_000)
    annotations = pl.concat(
        [
            annotations,
            annotations.sample(bad, seed=seed).with_columns(pl.lit("unicorns").alias("label")),
            annotations.sample(bad, seed=seed + 1).with_columns(post_id=pl.lit(42, pl.Int64)),
            annotations.sample(bad, seed=seed + 2),
        ]
    ).sort("post_id", "task", "annotator_id", maintain_order=True)
    annotations.write_parquet(folder.annotations)

    chosen = rng.choice(
        gold_candidates.height, size=min(GOLD_POSTS, gold_candidates.height), replace=False
    )
    gold_posts = gold_candidates.select("post_id", "language")[chosen].sort("post_id")
    gold_ids = gold_posts["post_id"].to_numpy()
    gold, gold_answers = [], []
    for task in ANNOTATED_TASKS:
        labels = taxonomy[task]
        truth = true_labels(gold_posts, task, seed)
        gold.append(
            pl.DataFrame(
                {
                    "post_id": gold_ids,
                    "task": task,
                    "label": pl.Series(labels).gather(pl.Series(truth)),
                }
            )
        )
        for a in range(ANNOTATOR_POOL):
            answer = _label(rng, truth, np.full(len(truth), accuracy[task][a]), len(labels))
            gold_answers.append(
                pl.DataFrame(
                    {
                        "annotator_id": annotators[a],
                        "post_id": gold_ids,
                        "task": task,
                        "label": pl.Series(labels).gather(pl.Series(answer)),
                    }
                )
            )
    pl.concat(gold).write_parquet(folder.gold_labels)
    pl.concat(gold_answers).write_parquet(folder.gold_annotations)
    expert = pl.concat(experts).sort("post_id", "task")
    expert.write_parquet(folder.expert_resolutions)
    return {
        "annotations": len(annotations),
        "gold_posts": len(gold_ids),
        "expert_resolutions": len(expert),
        "annotators": ANNOTATOR_POOL,
    }


def annotate_run(run: CurationRun, out_dir: Path, seed: int = 7) -> dict[str, int]:
    """Simulated annotation of a curation run's shortlist; gold posts are pre-annotated posts
    outside it (the first 50,000 other pool posts, by post ID)."""
    shortlist_path = run.table("shortlist")
    if not shortlist_path.is_file():
        raise FileNotFoundError(f"no shortlist at {shortlist_path}: run `massiv curate` first")
    shortlisted = pl.read_parquet(shortlist_path, columns=["post_id", "language"])
    others = (
        pl.scan_parquet(run.table("pool"))
        .select("post_id", "language")
        .join(shortlisted.lazy(), on="post_id", how="anti", maintain_order="left")
        .head(50_000)
        .collect()
    )
    return synthesize_annotations(shortlisted, others, out_dir, seed)
