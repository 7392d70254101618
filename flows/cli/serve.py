"""`massiv serve`: the dataset's site on uvicorn."""

from __future__ import annotations

import logging
import os
import sys
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
    workers: Annotated[
        int, typer.Option(min=1, help="Server processes (one per core; they share the state).")
    ] = 1,
    access_log: Annotated[
        bool, typer.Option(help="One line per request on stderr, tokens and capabilities cut.")
    ] = False,
) -> None:
    """Serve the dataset's homepage: its card, versions, changelog, figures and Croissant file."""
    import uvicorn

    from curation.config import AccessConfig, SiteConfig, load_config
    from flows.web.app import ACCESS_LOG_ENV, CONFIG_ENV, create_app

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
    if access_log:  # ours, not uvicorn's: its access log prints query strings, i.e. tokens
        logging.basicConfig(format="%(asctime)s %(message)s", stream=sys.stderr)
        logging.getLogger("massiv.site").setLevel(logging.INFO)
        os.environ[ACCESS_LOG_ENV] = "1"
    app = _run(lambda: create_app(cfg))  # checks the config and makes its keys, once
    console.print(f"{cfg.access.dataset}: http://{host}:{port}/  (Ctrl-C stops it)")
    if workers == 1:
        uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
        return
    # Each worker process builds its own app from the same config; the signed log, the grants
    # and the site's SQLite state are shared through their files and locks.
    os.environ[CONFIG_ENV] = cfg.model_dump_json()
    uvicorn.run(
        "flows.web.app:app_from_env",
        factory=True,
        workers=workers,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
    )
