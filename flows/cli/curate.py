"""`massiv curate`: the curation flow."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from curation.config import CurateConfig, load_config
from flows.cli.common import _funnel_table, _run, console


def curate(
    config: Annotated[
        Path | None, typer.Option(help="YAML config (only the fields to change).")
    ] = None,
    export: Annotated[
        str | None, typer.Option(help="Export folder or s3://bucket/prefix (overrides config).")
    ] = None,
    output: Annotated[
        str | None, typer.Option(help="Output folder or s3://bucket/prefix (overrides config).")
    ] = None,
) -> None:
    """Run the curation flow: validate, scope, screen, dedup, sample, shortlist."""
    from curation.curate import preflight
    from flows.curate import curate as curate_flow

    cfg = _run(lambda: load_config(CurateConfig, config, export_dir=export, output_dir=output))
    _run(lambda: preflight(cfg))
    result = _run(lambda: curate_flow(cfg))
    console.print(_funnel_table(result.funnel))


def curate_pull(
    source: Annotated[str, typer.Argument(help="A curate output on S3: s3://bucket/prefix.")],
    dest: Annotated[Path, typer.Argument(help="Local output folder a release reads.")] = Path(
        "data/curation"
    ),
) -> None:
    """Download the newest complete curation run from S3 and make `dest` link to it."""
    from storage.runs import CurationRun

    if not source.startswith("s3://"):
        raise typer.BadParameter("SOURCE must be an s3:// location", param_hint="SOURCE")
    run = _run(lambda: CurationRun.pull(source, dest))
    console.print(f"curation run {run.root.name} → {dest}")
