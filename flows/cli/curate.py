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
    export: Annotated[Path | None, typer.Option(help="Export folder (overrides config).")] = None,
    output: Annotated[Path | None, typer.Option(help="Output folder (overrides config).")] = None,
) -> None:
    """Run the curation flow: validate, scope, screen, dedup, sample, shortlist."""
    from curation.curate import preflight
    from flows.curate import curate as curate_flow

    cfg = _run(lambda: load_config(CurateConfig, config, export_dir=export, output_dir=output))
    _run(lambda: preflight(cfg))
    result = _run(lambda: curate_flow(cfg))
    console.print(_funnel_table(result.funnel))
