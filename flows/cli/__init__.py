"""`massiv` command line: synthetic data, the flows, verification, and the end-to-end demo.

One module per command group; this one builds the root app and registers them, in the order
`massiv --help` lists them.
"""

from __future__ import annotations

import typer

from flows.cli import (
    access,
    access_log,
    curate,
    demo,
    fetch,
    opt_out,
    release,
    serve,
    site,
    store,
    synth,
)

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="Curate and release research datasets of short videos.",
)


@app.callback()
def options(
    verbose: bool = typer.Option(False, "--verbose", help="Show Prefect's and Dask's INFO lines."),
) -> None:
    from flows.tasks import engine_logs

    engine_logs(verbose)


app.command()(curate.curate)
app.command("curate-pull")(curate.curate_pull)
app.command()(store.verify)
app.command("opt-out")(opt_out.opt_out_command)
app.command()(demo.demo)
app.command()(serve.serve)
app.command()(fetch.fetch)
app.add_typer(synth.synth_app, name="synth")
app.add_typer(release.release_app, name="release")
app.add_typer(store.store_app, name="store")
app.add_typer(site.site_app, name="site")
access_app = typer.Typer(
    no_args_is_help=True, help="Access requests, grants, URLs, the access log."
)
access_app.add_typer(access.grants_app)  # request, approve, reject, revoke, urls, fetch
access_app.add_typer(access_log.log_app)  # report, verify, anchor
app.add_typer(access_app, name="access")


def main() -> None:
    app()
