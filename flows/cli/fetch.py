"""`massiv fetch`: a researcher's scripted download of the current release from the site."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from flows.cli.common import console


def fetch(
    site: Annotated[str, typer.Option(help="The dataset's site, e.g. https://massiv.example.org")],
    token: Annotated[
        str,
        typer.Option(
            envvar="MASSIV_TOKEN",
            help="Your API token (the researcher's page makes one); or set MASSIV_TOKEN.",
        ),
    ],
    to: Annotated[Path, typer.Option(help="Folder to put <dataset>-<version> in.")] = Path("."),
) -> None:
    """Download the current version of the dataset (every file logged by the site) and check
    it against its manifest."""
    from curation.release.bundle import verify_bundle
    from flows.cli.common import _progress, user_errors
    from storage.remote_release import fetch_release

    with user_errors(), _progress() as progress:
        task = progress.add_task("files", total=None)

        def advance(path: str, size: int, count: int) -> None:
            progress.update(task, total=count, advance=1, description=path[-40:])

        got = fetch_release(site, token, to, verify_bundle, advance)
    console.print(
        f"[green]✓[/] {got.dataset} {got.version}: {got.files} files, "
        f"{got.bytes / 1e6:.1f} MB in {got.folder}; every file matches the manifest"
    )
