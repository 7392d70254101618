"""`massiv verify` (a published version, local or on S3) and `massiv store` (push, purge)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from flows.cli.common import _run, console
from storage.runs import OptOutFolder

store_app = typer.Typer(no_args_is_help=True, help="Release store upkeep.")


def verify(
    location: Annotated[
        str,
        typer.Argument(
            help="A published version: its folder, or s3://bucket/prefix/<dataset>/<version>."
        ),
    ],
    opt_out_dir: Annotated[
        Path,
        typer.Option(
            "--optout-dir", help="Opt-out folder whose blocklist the manifest commits to."
        ),
    ] = Path("data/optout"),
) -> None:
    """Check a release's files against its manifest and, with the blocklist, its commitment and
    attestation (exit 1 on any problem). On S3, every object is read back and checked."""
    import tempfile

    from curation.release.verify import blocked_count, verify_release
    from privacy.blocklist import load_blocklist
    from storage.local import LocalStore
    from storage.s3 import S3Store

    has_blocklist = OptOutFolder(opt_out_dir).blocklist.is_file()
    blocklist = load_blocklist(opt_out_dir) if has_blocklist else None
    with tempfile.TemporaryDirectory(prefix="massiv-verify-") as scratch:
        if location.startswith("s3://"):
            base, dataset, version = location.rstrip("/").rsplit("/", 2)
            remote = _run(lambda: S3Store(base))
            mark = _run(lambda: remote.withdrawn(dataset)).get(version)
            problems = _run(lambda: remote.verify(dataset, version))
            path = (
                _run(lambda: remote.download(dataset, version, Path(scratch) / version))
                if not problems
                else Path(scratch)
            )
        else:
            path = Path(location)
            dataset, version = path.parent.name, path.name
            mark = LocalStore(path.parent.parent).withdrawn(dataset).get(version)
            problems = []
        if mark and mark["purged_at"]:
            console.print(
                f"[yellow]![/] {location}: withdrawn ({mark['reason']}); files purged "
                f"{mark['purged_at']}"
            )
            raise typer.Exit(1)
        problems = problems or verify_release(path, blocklist)
        if problems:
            for problem in problems:
                console.print(f"[red]✗[/] {problem}", highlight=False)
            raise typer.Exit(1)
        console.print(f"[green]✓[/] {location}: every file matches the manifest")
        if blocklist is None:
            console.print(
                f"  (no blocklist at {opt_out_dir}: commitment and attestation not checked)"
            )
            return
        console.print("[green]✓[/] blocklist commitment holds; no released row is on it")
        later = blocked_count(path, blocklist)
    if mark:
        console.print(f"[yellow]![/] withdrawn {mark['withdrawn_at']}: {mark['reason']}")
    elif later:
        console.print(
            f"[red]✗[/] {later} rows were opted out after this version was published and it is "
            "not withdrawn: run `massiv opt-out`"
        )
        raise typer.Exit(1)


@store_app.command("push")
def store_push(
    version: Annotated[str, typer.Argument(help="A locally published version.")],
    s3_url: Annotated[str, typer.Option("--s3", help="s3://bucket/prefix to publish to.")],
    store: Annotated[Path, typer.Option(help="Release store folder.")] = Path("data/releases"),
    dataset: Annotated[str, typer.Option(help="Dataset name.")] = "massiv",
) -> None:
    """Publish a local version to S3 (objects first, manifest last); completes an interrupted
    push, refuses to replace another build of the same version. The local withdrawal marks
    go first, so a withdrawn version never appears there as live."""
    from storage.local import LocalStore
    from storage.s3 import S3Store

    local = LocalStore(store)
    folder = local.version_dir(dataset, version)
    if not (folder / "manifest.json").is_file():
        console.print(f"[bold red]error:[/] no published version at {folder}")
        raise typer.Exit(2)
    remote = _run(lambda: S3Store(s3_url))
    marks = local.withdrawn(dataset)
    if marks.get(version, {}).get("purged_at"):
        console.print(f"[bold red]error:[/] {dataset} {version} was withdrawn and purged")
        raise typer.Exit(2)
    _run(lambda: remote.mirror_withdrawn(dataset, marks))
    digest = _run(lambda: remote.publish(folder, dataset, version))
    console.print(f"[green]✓[/] {dataset} {version} → {s3_url} (manifest sha256 {digest[:16]}…)")
    if version in marks:
        console.print(
            f"[yellow]![/] {version} is withdrawn ({marks[version]['reason']}), there too"
        )


@store_app.command("purge")
def store_purge(
    store: Annotated[Path, typer.Option(help="Release store folder.")] = Path("data/releases"),
    dataset: Annotated[str, typer.Option(help="Dataset name.")] = "massiv",
) -> None:
    """Delete the files of withdrawn versions whose retention has passed (logged)."""
    from storage.local import LocalStore

    for event in LocalStore(store).purge_due(dataset):
        console.print(
            f"purged {event['version']}: {event['objects_deleted']} objects, "
            f"{event['bytes_freed']:,} bytes"
        )
