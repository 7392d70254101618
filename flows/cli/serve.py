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

    if demo:  # the demo's desk, store and opt-out folder; mail goes to 127.0.0.1:25
        demo_dir = Path("data/demo")
        access = (
            _run(lambda: load_config(AccessConfig, demo_dir / "access.yaml"))
            if (demo_dir / "access.yaml").is_file()  # the demo's S3 part wrote one
            else AccessConfig(access_dir=demo_dir / "access", store=demo_dir / "releases")
        )
        cfg = SiteConfig(
            access=access,
            state=demo_dir / "site.sqlite3",
            opt_out_requests=demo_dir / "site_opt_out_requests.csv",
            opt_out_dir=demo_dir / "optout",
            media_root=str(demo_dir / "export" / "media"),
            takedowns=demo_dir / "export" / "takedowns.csv",
        )
    else:
        cfg = _run(lambda: load_config(SiteConfig, config))
    console.print(f"{cfg.access.dataset}: http://{host}:{port}/  (Ctrl-C stops it)")
    uvicorn.run(_run(lambda: create_app(cfg)), host=host, port=port, log_level="warning")
