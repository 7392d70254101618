"""`massiv demo`: end to end on the embedded defaults, through the flows and commands a user runs.

synth export → curate → synth annotations → release → researchers (demo_access.py) → opt-out
→ verify.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Annotated

import typer

from curation.config import CurateConfig, OptOutConfig, ReleaseConfig
from curation.release.bundle import read_manifest
from flows.cli.common import _funnel_table, _run, console
from flows.cli.opt_out import _print_opt_out
from flows.cli.synth import _annotations, _export
from privacy.keys import KEY_ENV, create_key_file
from storage.runs import CurationRun

DEMO_KEY = Path.home() / ".config" / "massiv" / "demo-pseudonym.key"


def demo(
    workdir: Annotated[Path, typer.Option(help="Scratch folder for the demo (replaced).")] = Path(
        "data/demo"
    ),
    posts: Annotated[int, typer.Option(min=1_000, help="Posts in the synthetic export.")] = 300_000,
    video_sources: Annotated[
        int, typer.Option(min=0, help="Sources of the small real-video corpus in the export.")
    ] = 3,
    s3: Annotated[
        bool,
        typer.Option(
            help="Also publish to a local S3 server (SeaweedFS) and run the access desk: "
            "grants, presigned downloads, the access log."
        ),
    ] = True,
) -> None:
    """End to end on the embedded defaults: synth export → curate → annotate → release (local
    store and S3) → researchers request access and download → opt-out requests → patch release
    → withdrawal notices → verify."""
    from contextlib import ExitStack

    from curation.release.verify import verify_release
    from flows.cli.demo_access import _demo_after_opt_out, _demo_researchers
    from flows.cli.demo_s3 import demo_s3
    from flows.curate import curate as curate_flow
    from flows.opt_out import opt_out
    from flows.release import release as release_flow
    from privacy.blocklist import load_blocklist

    if workdir.exists():
        shutil.rmtree(workdir)
    export, curation, store = workdir / "export", workdir / "curation", workdir / "releases"
    opt_out_folder = workdir / "optout"
    if create_key_file(DEMO_KEY):
        console.print(
            f"created a demo pseudonym key at {DEMO_KEY} (outside the repo; in "
            f"production give key_file or set ${KEY_ENV})"
        )
    _export(export, posts, seed=7, video_sources=video_sources)
    cur = _run(
        lambda: curate_flow(
            CurateConfig(
                export_dir=export,
                output_dir=curation,
                opt_out_dir=opt_out_folder,
                key_file=DEMO_KEY,
            )
        )
    )
    _run(lambda: _annotations(curation, export / "annotations", seed=7))
    with ExitStack() as stack:
        dist = _run(lambda: stack.enter_context(demo_s3(workdir, store))) if s3 else None
        if dist is not None:
            console.print(f"S3: SeaweedFS at {dist.server.endpoint}, releases → {dist.releases}")
        s3_url, access = (dist.releases, dist.access) if dist else (None, None)
        rel = _run(
            lambda: release_flow(
                ReleaseConfig(
                    curation_dir=curation,
                    annotations_dir=export / "annotations",
                    store=store,
                    key_file=DEMO_KEY,
                    opt_out_dir=opt_out_folder,
                    s3_url=s3_url,
                    access=access,
                )
            )
        )
        holder = _demo_researchers(dist, workdir) if dist else None
        opted = _run(
            lambda: opt_out(
                OptOutConfig(
                    requests=export / "opt_out_requests.csv",
                    export_dir=export,
                    curation_dir=curation,
                    opt_out_dir=opt_out_folder,
                    store=store,
                    key_file=DEMO_KEY,
                    s3_url=s3_url,
                    access=access,
                )
            )
        )
        console.print(_funnel_table(cur.funnel))
        console.print(
            f"shortlist {cur.shortlist:,} · companion {cur.companion:,} · released "
            f"{rel.counts['labeled']:,} labeled (train {rel.counts['train']:,} / validation "
            f"{rel.counts['validation']:,} / test {rel.counts['test']:,}) + "
            f"{rel.counts['unlabeled']:,} unlabeled; left out: "
            + (
                ", ".join(f"{k} {v:,}" for k, v in read_manifest(rel.path)["removals"].items())
                or "none"
            )
        )
        _print_opt_out(opted)
        latest = store / "massiv" / (opted.patch or "1.0.0")
        problems = verify_release(latest, load_blocklist(opt_out_folder))
        if problems:
            console.print(f"[red]verify failed:[/] {problems}")
            raise typer.Exit(1)
        if dist is not None and holder is not None:
            _demo_after_opt_out(dist, workdir, holder, opted.patch or "1.0.0", opt_out_folder)
    console.print(f"[green]release:[/] {rel.path}  (manifest sha256 {rel.manifest_sha256})")
    console.print(
        f"[green]latest:[/] {latest}  (verified: files, blocklist commitment, no opted-out row)"
    )
    console.print(f"funnel: {CurationRun(curation).funnel} · opt-out evidence: {opt_out_folder}")
    console.print(
        "the site on this release: [bold]uv run massiv serve --demo[/], then open "
        "http://127.0.0.1:8000/"
    )
