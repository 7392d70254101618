"""`massiv synth`: synthetic platform data to run on (export, video corpus, annotations)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from flows.cli.common import _progress, console, user_errors
from storage.runs import CurationRun
from synth.annotations import annotate_run
from synth.export import synthesize_export

synth_app = typer.Typer(no_args_is_help=True, help="Make synthetic platform data to run on.")


def _export(out: Path, posts: int, seed: int, video_sources: int = 0) -> None:
    with _progress() as bar:
        job = bar.add_task(f"synthesizing {posts:,} posts", total=posts)
        summary = synthesize_export(
            out, posts, seed, progress=lambda n: bar.advance(job, n), video_sources=video_sources
        )
    console.print(
        f"export: {summary.posts:,} posts by {summary.creators:,} creators, "
        f"{summary.opt_out_requests:,} opt-out requests → {out}"
    )


def _annotations(curation_dir: Path, out: Path, seed: int) -> None:
    counts = annotate_run(CurationRun(curation_dir), out, seed)
    console.print(
        f"annotations: {counts['annotations']:,} labels by {counts['annotators']} "
        f"annotators, {counts['gold_posts']} gold posts, "
        f"{counts['expert_resolutions']:,} expert resolutions → {out}"
    )


@synth_app.command("export")
def synth_export(
    out: Annotated[Path, typer.Option(help="Folder to write the export to.")] = Path("data/export"),
    posts: Annotated[int, typer.Option(min=1, help="Number of posts.")] = 300_000,
    seed: Annotated[int, typer.Option(help="Seed; same seed, same files.")] = 7,
    video_sources: Annotated[
        int, typer.Option(min=0, help="Real video files: sources (each with 12 edits) to make.")
    ] = 0,
) -> None:
    """A platform export: posts, creators, opt-out requests, with planted bad rows."""
    _export(out, posts, seed, video_sources)


@synth_app.command("videos")
def synth_videos(
    out: Annotated[Path, typer.Option(help="Folder for videos/ and corpus.parquet.")] = Path(
        "data/neardup-corpus"
    ),
    sources: Annotated[int, typer.Option(min=1, help="Sources, each with all 12 edits.")] = 40,
    distractors: Annotated[int, typer.Option(min=0, help="Unrelated clips and look-alikes.")] = 300,
    seed: Annotated[int, typer.Option(help="Seed; same seed, same clips.")] = 11,
    workers: Annotated[int, typer.Option(min=1, help="Processes rendering clips.")] = 2,
) -> None:
    """A near-duplicate benchmark corpus of real 540×960 clips (ground truth: source_id)."""
    from synth.video import EDITS, synthesize_corpus

    total = sources * (1 + len(EDITS)) + distractors
    with user_errors(), _progress() as bar:
        job = bar.add_task(f"rendering {total:,} clips", total=total)
        corpus = synthesize_corpus(
            out, sources, distractors, seed, progress=lambda n: bar.advance(job, n), workers=workers
        )
    console.print(f"corpus: {total:,} clips → {corpus}")


@synth_app.command("annotations")
def synth_annotations(
    curation_dir: Annotated[Path, typer.Option("--curation", help="A curate run's folder.")] = Path(
        "data/curation"
    ),
    out: Annotated[Path, typer.Option(help="Folder for the annotation tables.")] = Path(
        "data/export/annotations"
    ),
    seed: Annotated[int, typer.Option(help="Seed for the simulated annotators.")] = 7,
) -> None:
    """Simulated expert annotation of a curate run's shortlist (3 annotators per post)."""
    with user_errors():
        _annotations(curation_dir, out, seed)
