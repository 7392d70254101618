"""`massiv access` requests and grants: request, approve, reject, revoke, urls, fetch."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from curation.config import load_config
from flows.cli.common import _run, console

if TYPE_CHECKING:
    from privacy.access import AccessDesk

# Merged into the `access` group with the log's commands (flows/cli/__init__.py).
grants_app = typer.Typer()
AccessConfigOption = Annotated[
    Path | None, typer.Option("--config", help="YAML config (AccessConfig fields to change).")
]


def _desk(config: Path | None, write: bool = True) -> AccessDesk:
    from curation.config import AccessConfig
    from privacy.access_log import create_signing_key
    from privacy.audit import open_desk

    cfg = _run(lambda: load_config(AccessConfig, config))
    if write and not cfg.signing_key.exists():
        public = create_signing_key(cfg.signing_key)
        console.print(
            f"created an access-log signing key at {cfg.signing_key} (keep it apart; its public "
            f"key, for `access verify`, is {public})"
        )
    return _run(lambda: open_desk(cfg, write))


@grants_app.command("request")
def access_request(
    name: Annotated[str, typer.Option(help="Researcher's name.")],
    institution: Annotated[str, typer.Option(help="Institution.")],
    email: Annotated[str, typer.Option(help="Contact e-mail.")],
    purpose: Annotated[str, typer.Option(help="What the data is for.")],
    accept_terms: Annotated[
        bool, typer.Option("--accept-terms", help="Accept the research-only terms.")
    ] = False,
    config: AccessConfigOption = None,
) -> None:
    """File an access request (the curator decides)."""
    grant = _run(lambda: _desk(config).request(name, institution, email, purpose, accept_terms))
    console.print(f"request {grant.id} filed; the curator will approve or reject it")


@grants_app.command("approve")
def access_approve(
    grant: Annotated[str, typer.Argument(help="Request ID.")],
    curator: Annotated[str, typer.Option(help="Who decides.")],
    days: Annotated[int, typer.Option(min=1, help="How long the grant lasts.")] = 365,
    config: AccessConfigOption = None,
) -> None:
    """Approve a request."""
    g = _run(lambda: _desk(config).approve(grant, curator, days))
    console.print(f"{g.id} approved until {g.expires_at}")


@grants_app.command("reject")
def access_reject(
    grant: Annotated[str, typer.Argument(help="Request ID.")],
    curator: Annotated[str, typer.Option(help="Who decides.")],
    reason: Annotated[str, typer.Option(help="Why (shown to the requester).")],
    config: AccessConfigOption = None,
) -> None:
    """Reject a request."""
    _run(lambda: _desk(config).reject(grant, curator, reason))
    console.print(f"{grant} rejected")


@grants_app.command("revoke")
def access_revoke(
    grant: Annotated[str, typer.Argument(help="Grant ID.")],
    curator: Annotated[str, typer.Option(help="Who decides.")],
    reason: Annotated[str, typer.Option(help="Why.")],
    config: AccessConfigOption = None,
) -> None:
    """Revoke a grant: no more URLs, and issued tokens stop working."""
    _run(lambda: _desk(config).revoke(grant, curator, reason))
    console.print(f"{grant} revoked")


@grants_app.command("urls")
def access_urls(
    grant: Annotated[str, typer.Argument(help="Grant ID.")],
    expires_in: Annotated[
        int | None, typer.Option(help="URL lifetime in seconds (capped at 7 days).")
    ] = None,
    config: AccessConfigOption = None,
) -> None:
    """Print download URLs for the current version's files (one per line: path, URL)."""
    urls = _run(lambda: _desk(config).issue(grant, expires_in=expires_in))
    for path, url in urls.items():
        typer.echo(f"{path}\t{url}")


@grants_app.command("fetch")
def access_fetch(
    token: Annotated[str, typer.Argument(help="A massiv://download?… token.")],
    out: Annotated[Path, typer.Option(help="Where to write the file.")],
    config: AccessConfigOption = None,
) -> None:
    """Download one file of the local store with a token."""
    path = _run(lambda: _desk(config).fetch(token, out))
    console.print(f"[green]✓[/] {path}")
