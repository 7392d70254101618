"""`massiv opt-out`: the opt-out flow, and its summary (the demo prints it too)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from curation.config import OptOutConfig, load_config
from flows.cli.common import _run, console
from privacy.keys import KEY_ENV

if TYPE_CHECKING:
    from flows.opt_out import OptOutResult


def opt_out_command(
    config: Annotated[
        Path | None, typer.Option(help="YAML config (only the fields to change).")
    ] = None,
    requests: Annotated[Path | None, typer.Option(help="The form's export (CSV or JSON).")] = None,
    store: Annotated[Path | None, typer.Option(help="Release store folder.")] = None,
    key_file: Annotated[
        Path | None, typer.Option(help=f"Pseudonym key file (else ${KEY_ENV}).")
    ] = None,
) -> None:
    """Process opt-out requests: blocklist, evidence, patch release, withdrawal, purge."""
    from flows.opt_out import opt_out

    cfg = _run(
        lambda: load_config(OptOutConfig, config, requests=requests, store=store, key_file=key_file)
    )
    result = _run(lambda: opt_out(cfg))
    _print_opt_out(result)


def _print_opt_out(result: OptOutResult) -> None:
    table = Table(title="opt-out requests")
    table.add_column("status")
    table.add_column("requests", justify="right")
    for status, n in result.requests.items():
        table.add_row(status, f"{n:,}")
    console.print(table)
    console.print(
        f"blocklist +{result.new_entries} entries ({result.near_duplicates} near-duplicates) · "
        f"patch {result.patch or 'none'} · withdrawn {', '.join(result.withdrawn) or 'none'} · "
        f"purged {', '.join(p['version'] for p in result.purged) or 'none'}"
    )
