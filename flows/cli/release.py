"""`massiv release`: build and publish a version; `release rebuild` checks an old one."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from curation.config import ReleaseConfig, load_config
from flows.cli.common import _run, console
from privacy.keys import KEY_ENV

release_app = typer.Typer(
    no_args_is_help=False,
    invoke_without_command=True,
    help="Build and publish a release version (`release rebuild` checks an old one).",
)


@release_app.callback()
def release(
    ctx: typer.Context,
    config: Annotated[
        Path | None, typer.Option(help="YAML config (only the fields to change).")
    ] = None,
    version: Annotated[str | None, typer.Option(help="Version to publish, e.g. 1.0.0.")] = None,
    parent: Annotated[str | None, typer.Option(help="Previous version this one follows.")] = None,
    store: Annotated[Path | None, typer.Option(help="Release store folder.")] = None,
    key_file: Annotated[
        Path | None, typer.Option(help=f"Pseudonym key file (else ${KEY_ENV}).")
    ] = None,
    bump: Annotated[
        str | None,
        typer.Option(help="major, minor or patch: the version after the newest published."),
    ] = None,
) -> None:
    """Run the release flow: vote, split, mask, write and publish a versioned bundle."""
    if ctx.invoked_subcommand is not None:
        return
    from curation.release.inputs import preflight
    from curation.release.versions import resolve_version
    from flows.release import release as release_flow

    cfg = _run(
        lambda: load_config(
            ReleaseConfig,
            config,
            version=version,
            parent=parent,
            store=store,
            key_file=key_file,
            bump=bump,
        )
    )
    _run(lambda: preflight(resolve_version(cfg)))  # the flow resolves a bump again, locked
    result = _run(lambda: release_flow(cfg))
    typer.echo(str(result.path))


@release_app.command("rebuild")
def release_rebuild(
    version: Annotated[str, typer.Argument(help="The published version to rebuild.")],
    store: Annotated[Path, typer.Option(help="Release store folder.")] = Path("data/releases"),
    dataset: Annotated[str, typer.Option(help="Dataset name.")] = "massiv",
) -> None:
    """Rebuild a version from its recorded inputs in a scratch folder; compare every byte."""
    from flows.rebuild import rebuild

    report = _run(lambda: rebuild(store, dataset, version))
    for note in report.notes:
        console.print(f"[yellow]![/] {note}", highlight=False)
    if report.identical:
        console.print(f"[green]✓[/] {dataset} {version}: rebuilt byte for byte")
        return
    for rel in report.differing:
        console.print(f"[red]✗[/] {rel} differs", highlight=False)
    raise typer.Exit(1)
