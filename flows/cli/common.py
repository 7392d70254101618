"""What the command groups share: the console, user errors, the progress bar, the funnel table."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import typer
from botocore.exceptions import BotoCoreError, ClientError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from curation.annotations.vote import AnnotationMismatchError
from curation.config import ConfigError
from curation.stages.ingest import ExportError
from privacy.access import AccessDenied, AccessRequestError
from privacy.access_log import LogTamperedError
from privacy.keys import KeyMismatchError, KeyUnavailableError
from privacy.leak_gate import LeakError
from privacy.opt_out import RequestFileError
from privacy.pseudonyms import PseudonymCollisionError
from storage.exclusions import FunnelError, StageCount
from storage.local import VersionExistsError
from storage.remote_release import FetchError
from storage.s3 import S3StoreError
from storage.site_state import SiteStateError

console = Console(stderr=True)
USER_ERRORS = (
    ConfigError,
    ExportError,
    KeyUnavailableError,
    VersionExistsError,
    FunnelError,
    FileNotFoundError,
    PseudonymCollisionError,
    AnnotationMismatchError,
    KeyMismatchError,
    LeakError,
    RequestFileError,
    AccessDenied,
    AccessRequestError,
    S3StoreError,
    LogTamperedError,
    FetchError,
    SiteStateError,
)
T = TypeVar("T")


@contextmanager
def user_errors() -> Iterator[None]:
    """A user's mistake ends in one red line and exit code 2; a bug keeps its traceback."""
    try:
        yield
    except USER_ERRORS as exc:
        console.print(f"[bold red]error:[/] {exc}", highlight=False)
        raise typer.Exit(2) from None
    except RuntimeError as exc:
        if "ephemeral" not in str(exc).lower():
            raise
        console.print(f"[bold red]error:[/] {_server_failure()}", highlight=False)
        raise typer.Exit(2) from None
    except (BotoCoreError, ClientError) as exc:  # S3 said no, or could not be reached
        console.print(f"[bold red]S3 error:[/] {exc}", highlight=False)
        raise typer.Exit(2) from None


def _server_failure() -> str:
    # A server that dies while starting looks the same: uvicorn exits 3, Prefect takes that for a
    # taken port and starts another until the wait runs out.
    wait = os.environ.get("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "300")
    return (
        f"Prefect's temporary server did not start within {wait} s; the machine may be busy: "
        "run again, raise PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS, or point "
        "PREFECT_API_URL at a running server"
    )


def _run(fn: Callable[[], T]) -> T:
    with user_errors():
        return fn()


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )


def _funnel_table(funnel: list[StageCount]) -> Table:
    table = Table(title="curation funnel")
    for col in ("stage", "input", "kept", "excluded", "top reasons"):
        table.add_column(col, justify="right" if col in ("input", "kept", "excluded") else "left")
    for c in funnel:
        table.add_row(c.stage, f"{c.input:,}", f"{c.kept:,}", f"{c.excluded:,}", c.top_reasons())
    return table
