"""`massiv site …`: the curator's side of the site's queues, from the command line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from flows.cli.common import _run, console

site_app = typer.Typer(help="The site's queues: whole-account opt-outs waiting for the curator.")
ConfigOption = Annotated[Path | None, typer.Option("--config", help="The site config.")]


@site_app.command("waiting")
def waiting(config: ConfigOption = None) -> None:
    """Confirmed whole-account opt-outs that wait for the curator."""
    from curation.config import SiteConfig, load_config
    from storage.site_state import SiteState

    cfg = _run(lambda: load_config(SiteConfig, config))
    for p in SiteState(cfg.state).waiting("opt_out"):
        console.print(f"{p.status_id}\t{p.payload['targets'][0]}\t{p.payload['email']}")


@site_app.command("confirm-opt-out")
def confirm_opt_out(
    status_id: Annotated[
        str, typer.Argument(help="The request, as `massiv site waiting` lists it.")
    ],
    config: ConfigOption = None,
) -> None:
    """File a whole-account opt-out with the daily flow's requests."""
    from curation.config import SiteConfig, load_config
    from flows.web.opt_out_form import file_requests
    from storage.site_state import SiteState

    cfg = _run(lambda: load_config(SiteConfig, config))
    state = SiteState(cfg.state)
    pending = state.waiting_for("opt_out", status_id)
    if pending is None:
        console.print(f"[bold red]error:[/] no confirmed opt-out {status_id} waits for the curator")
        raise typer.Exit(2)
    ids = file_requests(state, cfg.opt_out_requests, pending)
    console.print(f"filed {json.dumps(ids)} → {cfg.opt_out_requests}")


@site_app.command("set-password")
def set_password(config: ConfigOption = None) -> None:
    """Set the curator's dashboard password (read from the terminal, or stdin)."""
    import sys

    from curation.config import SiteConfig, load_config
    from privacy.web_auth import hash_password
    from storage.site_state import SiteState

    cfg = _run(lambda: load_config(SiteConfig, config))
    password = (
        typer.prompt("password", hide_input=True, confirmation_prompt=True)
        if sys.stdin.isatty()
        else sys.stdin.readline().rstrip("\n")
    )
    if len(password) < 12:
        console.print("[bold red]error:[/] the password needs at least 12 characters")
        raise typer.Exit(2)
    path = cfg.curator_password_file
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(hash_password(password) + "\n")
    path.chmod(0o600)
    SiteState(cfg.state).close_all_sessions()  # whoever signed in with the old one is out
    console.print(f"curator password set ({path}); every session signed out")
