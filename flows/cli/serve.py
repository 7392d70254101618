"""`massiv serve`: the dataset's site on uvicorn."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from flows.cli.common import _run, console


def serve(
    config: Annotated[
        Path | None, typer.Option(help="The site config (SiteConfig: access, SMTP, base URL).")
    ] = None,
    demo: Annotated[
        bool, typer.Option(help="Serve the demo's release (after `make demo`).")
    ] = False,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8000,
) -> None:
    """Serve the dataset's homepage: its card, versions, changelog, figures and Croissant file."""
    import uvicorn

    from curation.config import AccessConfig, SiteConfig, load_config
    from flows.web.app import create_app

    if demo:  # the demo's desk and store; mail goes to a local SMTP server, if one listens
        access = _run(lambda: load_config(AccessConfig, Path("data/demo/access.yaml")))
        cfg = SiteConfig(access=access, state=Path("data/demo/site.sqlite3"))
    else:
        cfg = _run(lambda: load_config(SiteConfig, config))
    console.print(f"{cfg.access.dataset}: http://{host}:{port}/  (Ctrl-C stops it)")
    uvicorn.run(_run(lambda: create_app(cfg)), host=host, port=port, log_level="warning")
