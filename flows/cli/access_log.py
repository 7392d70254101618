"""`massiv access` and the access log: report, verify, anchor."""

from __future__ import annotations

import typer
from rich.table import Table

from curation.config import load_config
from flows.cli.access import AccessConfigOption, _desk
from flows.cli.common import _run, console

# Merged into the `access` group with the grants' commands (flows/cli/__init__.py).
log_app = typer.Typer()


@log_app.command("report")
def access_report(config: AccessConfigOption = None) -> None:
    """Who was issued which version's files (for opt-out notices)."""
    table = Table(title="issued versions")
    for col in ("version", "grant", "name", "email", "issuances", "last issued"):
        table.add_column(col)
    for row in _desk(config, write=False).report():
        table.add_row(
            row["version"],
            row["grant"],
            str(row["name"]),
            str(row["email"]),
            str(row["issuances"]),
            row["last_issued"],
        )
    console.print(table)


@log_app.command("verify")
def access_verify(config: AccessConfigOption = None) -> None:
    """Check the access log's chain, checkpoint signatures and signed head, that every
    anchored head is still in it, and that grants.json agrees with it (exit 1 if not)."""
    from curation.config import AccessConfig
    from privacy.access import AccessDesk
    from privacy.access_log import load_public_key
    from privacy.audit import access_log

    cfg = _run(lambda: load_config(AccessConfig, config))
    log = access_log(cfg, write=False)
    key = _run(lambda: load_public_key(cfg.public_key or cfg.signing_key.with_suffix(".pub")))
    anchors_at = log.anchors
    anchored = _run(anchors_at.heads) if anchors_at else None
    problems = log.verify(key, anchored)
    if not problems:  # the grants' state as the log tells it, against the grants file
        problems = AccessDesk(cfg.access_dir, log, None, cfg.dataset).disagreements()
    if problems:
        for problem in problems:
            console.print(f"[red]✗[/] {problem}", highlight=False)
        raise typer.Exit(1)
    anchors = (
        f"; {len(anchored)} anchored heads at {cfg.anchors} all in it"
        if anchored is not None
        else "; no anchors configured (a rollback to an older signed state would go unseen)"
    )
    console.print(
        f"[green]✓[/] {log.path}: {len(log.entries()):,} entries, chain and signatures "
        f"intact{anchors}",
        highlight=False,
    )


@log_app.command("anchor")
def access_anchor(config: AccessConfigOption = None) -> None:
    """Copy the log's signed head to the anchors now (the flows and checkpoints also do)."""
    from curation.config import AccessConfig
    from privacy.audit import access_log

    cfg = _run(lambda: load_config(AccessConfig, config))
    if not cfg.anchors:
        console.print("[bold red]error:[/] no anchors configured (AccessConfig.anchors)")
        raise typer.Exit(2)
    head = _run(lambda: access_log(cfg, write=False).anchor())
    console.print(
        f"[green]✓[/] anchored head seq {head['seq']} at {cfg.anchors}"
        if head
        else "the log is empty: nothing to anchor",
        highlight=False,
    )
