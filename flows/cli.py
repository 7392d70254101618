"""`massiv` command line: synthetic data, the flows, verification, and the end-to-end demo."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import polars as pl
import typer
from botocore.exceptions import BotoCoreError, ClientError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from curation.annotations.vote import AnnotationMismatchError
from curation.config import ConfigError, CurateConfig, OptOutConfig, ReleaseConfig, load_config
from curation.release.bundle import read_manifest
from curation.stages.ingest import ExportError
from privacy.access import AccessDenied, AccessRequestError
from privacy.access_log import LogTamperedError
from privacy.keys import KEY_ENV, KeyMismatchError, KeyUnavailableError, create_key_file
from privacy.leak_gate import LeakError
from privacy.opt_out import RequestFileError
from privacy.pseudonyms import PseudonymCollisionError
from storage.exclusions import FunnelError, StageCount
from storage.local import VersionExistsError
from storage.s3 import S3StoreError
from synth.annotations import synthesize_annotations
from synth.export import synthesize_export

if TYPE_CHECKING:
    from flows.demo import DemoS3
    from flows.opt_out import OptOutResult
    from privacy.access import AccessDesk

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="Curate and release research datasets of short videos.",
)
synth_app = typer.Typer(no_args_is_help=True, help="Make synthetic platform data to run on.")
app.add_typer(synth_app, name="synth")
release_app = typer.Typer(
    no_args_is_help=False,
    invoke_without_command=True,
    help="Build and publish a release version (`release rebuild` checks an old one).",
)
app.add_typer(release_app, name="release")
store_app = typer.Typer(no_args_is_help=True, help="Release store upkeep.")
app.add_typer(store_app, name="store")
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
)
DEMO_KEY = Path.home() / ".config" / "massiv" / "demo-pseudonym.key"
T = TypeVar("T")


@contextmanager
def user_errors() -> Iterator[None]:
    """A user's mistake ends in one red line and exit code 2; a bug keeps its traceback."""
    try:
        yield
    except USER_ERRORS as exc:
        console.print(f"[bold red]error:[/] {exc}", highlight=False)
        raise typer.Exit(2) from None
    except (BotoCoreError, ClientError) as exc:  # S3 said no, or could not be reached
        console.print(f"[bold red]S3 error:[/] {exc}", highlight=False)
        raise typer.Exit(2) from None


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )


def _export(out: Path, posts: int, seed: int, video_sources: int = 0) -> None:
    with _progress() as bar:
        job = bar.add_task(f"synthesizing {posts:,} posts", total=posts)
        summary = synthesize_export(
            out, posts, seed, progress=lambda n: bar.advance(job, n), video_sources=video_sources
        )
    console.print(
        f"export: {summary.posts:,} posts by {summary.creators:,} creators, "
        f"{summary.opt_out_requests:,} opt-out requests → {out}"
    )


def _annotations(curation_dir: Path, out: Path, seed: int) -> None:
    shortlist_path = curation_dir / "shortlist.parquet"
    if not shortlist_path.is_file():
        raise FileNotFoundError(f"no shortlist at {shortlist_path}: run `massiv curate` first")
    shortlisted = pl.read_parquet(shortlist_path, columns=["post_id", "language"])
    # Gold posts are pre-annotated posts outside the shortlist.
    others = (
        pl.scan_parquet(curation_dir / "posts_unique.parquet")
        .select("post_id", "language")
        .join(shortlisted.lazy(), on="post_id", how="anti", maintain_order="left")
        .head(50_000)
        .collect()
    )
    counts = synthesize_annotations(shortlisted, others, out, seed)
    console.print(
        f"annotations: {counts['annotations']:,} labels by {counts['annotators']} "
        f"annotators, {counts['gold_posts']} gold posts, "
        f"{counts['expert_resolutions']:,} expert resolutions → {out}"
    )


@synth_app.command("export")
def synth_export(
    out: Annotated[Path, typer.Option(help="Folder to write the export to.")] = Path("data/export"),
    posts: Annotated[int, typer.Option(min=1, help="Number of posts.")] = 300_000,
    seed: Annotated[int, typer.Option(help="Seed; same seed, same files.")] = 7,
    video_sources: Annotated[
        int, typer.Option(min=0, help="Real video files: sources (each with 12 edits) to make.")
    ] = 0,
) -> None:
    """A platform export: posts, creators, opt-out requests, with planted bad rows."""
    _export(out, posts, seed, video_sources)


@synth_app.command("videos")
def synth_videos(
    out: Annotated[Path, typer.Option(help="Folder for videos/ and corpus.parquet.")] = Path(
        "data/neardup-corpus"
    ),
    sources: Annotated[int, typer.Option(min=1, help="Sources, each with all 12 edits.")] = 40,
    distractors: Annotated[int, typer.Option(min=0, help="Unrelated clips and look-alikes.")] = 300,
    seed: Annotated[int, typer.Option(help="Seed; same seed, same clips.")] = 11,
    workers: Annotated[int, typer.Option(min=1, help="Processes rendering clips.")] = 2,
) -> None:
    """A near-duplicate benchmark corpus of real 540×960 clips (ground truth: source_id)."""
    from synth.video import EDITS, synthesize_corpus

    total = sources * (1 + len(EDITS)) + distractors
    with user_errors(), _progress() as bar:
        job = bar.add_task(f"rendering {total:,} clips", total=total)
        corpus = synthesize_corpus(
            out, sources, distractors, seed, progress=lambda n: bar.advance(job, n), workers=workers
        )
    console.print(f"corpus: {total:,} clips → {corpus}")


@synth_app.command("annotations")
def synth_annotations(
    curation_dir: Annotated[Path, typer.Option("--curation", help="A curate run's folder.")] = Path(
        "data/curation"
    ),
    out: Annotated[Path, typer.Option(help="Folder for the annotation tables.")] = Path(
        "data/export/annotations"
    ),
    seed: Annotated[int, typer.Option(help="Seed for the simulated annotators.")] = 7,
) -> None:
    """Simulated expert annotation of a curate run's shortlist (3 annotators per post)."""
    with user_errors():
        _annotations(curation_dir, out, seed)


def _funnel_table(funnel: list[StageCount]) -> Table:
    table = Table(title="curation funnel")
    for col in ("stage", "input", "kept", "excluded", "top reasons"):
        table.add_column(col, justify="right" if col in ("input", "kept", "excluded") else "left")
    for c in funnel:
        table.add_row(c.stage, f"{c.input:,}", f"{c.kept:,}", f"{c.excluded:,}", c.top_reasons())
    return table


def _run(fn: Callable[[], T]) -> T:
    with user_errors():
        return fn()


@app.command()
def curate(
    config: Annotated[
        Path | None, typer.Option(help="YAML config (only the fields to change).")
    ] = None,
    export: Annotated[Path | None, typer.Option(help="Export folder (overrides config).")] = None,
    output: Annotated[Path | None, typer.Option(help="Output folder (overrides config).")] = None,
) -> None:
    """Run the curation flow: validate, scope, screen, dedup, sample, shortlist."""
    from curation.curate import preflight
    from flows.curate import curate as curate_flow

    cfg = _run(lambda: load_config(CurateConfig, config, export_dir=export, output_dir=output))
    _run(lambda: preflight(cfg))
    result = _run(lambda: curate_flow(cfg))
    console.print(_funnel_table(result.funnel))


@release_app.callback()
def release(
    ctx: typer.Context,
    config: Annotated[
        Path | None, typer.Option(help="YAML config (only the fields to change).")
    ] = None,
    version: Annotated[str | None, typer.Option(help="Version to publish, e.g. 1.0.0.")] = None,
    parent: Annotated[str | None, typer.Option(help="Previous version this one follows.")] = None,
    store: Annotated[Path | None, typer.Option(help="Release store folder.")] = None,
    key_file: Annotated[
        Path | None, typer.Option(help=f"Pseudonym key file (else ${KEY_ENV}).")
    ] = None,
    bump: Annotated[
        str | None,
        typer.Option(help="major, minor or patch: the version after the newest published."),
    ] = None,
) -> None:
    """Run the release flow: vote, split, mask, write and publish a versioned bundle."""
    if ctx.invoked_subcommand is not None:
        return
    from curation.release.inputs import preflight
    from curation.release.versions import resolve_version
    from flows.release import release as release_flow

    cfg = _run(
        lambda: load_config(
            ReleaseConfig,
            config,
            version=version,
            parent=parent,
            store=store,
            key_file=key_file,
            bump=bump,
        )
    )
    _run(lambda: preflight(resolve_version(cfg)))  # the flow resolves a bump again, locked
    result = _run(lambda: release_flow(cfg))
    typer.echo(str(result.path))


@app.command()
def verify(
    location: Annotated[
        str,
        typer.Argument(
            help="A published version: its folder, or s3://bucket/prefix/<dataset>/<version>."
        ),
    ],
    optout_dir: Annotated[
        Path, typer.Option(help="Opt-out folder whose blocklist the manifest commits to.")
    ] = Path("data/optout"),
) -> None:
    """Check a release's files against its manifest and, with the blocklist, its commitment and
    attestation (exit 1 on any problem). On S3, every object is read back and checked."""
    import tempfile

    from curation.release.verify import blocked_count, verify_release
    from privacy.blocklist import load_blocklist
    from storage.local import LocalStore
    from storage.s3 import S3Store

    has_blocklist = (optout_dir / "blocklist.parquet").is_file()
    blocklist = load_blocklist(optout_dir) if has_blocklist else None
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
                f"  (no blocklist at {optout_dir}: commitment and attestation not checked)"
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


@app.command("opt-out")
def opt_out_command(
    config: Annotated[
        Path | None, typer.Option(help="YAML config (only the fields to change).")
    ] = None,
    requests: Annotated[Path | None, typer.Option(help="The form's export (CSV or JSON).")] = None,
    store: Annotated[Path | None, typer.Option(help="Release store folder.")] = None,
    key_file: Annotated[
        Path | None, typer.Option(help=f"Pseudonym key file (else ${KEY_ENV}).")
    ] = None,
) -> None:
    """Process opt-out requests: blocklist, evidence, patch release, withdrawal, purge."""
    from flows.opt_out import opt_out

    cfg = _run(
        lambda: load_config(OptOutConfig, config, requests=requests, store=store, key_file=key_file)
    )
    result = _run(lambda: opt_out(cfg))
    _print_opt_out(result)


def _print_opt_out(result: OptOutResult) -> None:
    table = Table(title="opt-out requests")
    table.add_column("status")
    table.add_column("requests", justify="right")
    for status, n in result.requests.items():
        table.add_row(status, f"{n:,}")
    console.print(table)
    console.print(
        f"blocklist +{result.new_entries} entries ({result.near_duplicates} near-duplicates) · "
        f"patch {result.patch or 'none'} · withdrawn {', '.join(result.withdrawn) or 'none'} · "
        f"purged {', '.join(p['version'] for p in result.purged) or 'none'}"
    )


@release_app.command("rebuild")
def release_rebuild(
    version: Annotated[str, typer.Argument(help="The published version to rebuild.")],
    store: Annotated[Path, typer.Option(help="Release store folder.")] = Path("data/releases"),
    dataset: Annotated[str, typer.Option(help="Dataset name.")] = "massiv",
) -> None:
    """Rebuild a version from its recorded inputs in a scratch folder; compare every byte."""
    from flows.rebuild import rebuild

    report = _run(lambda: rebuild(store, dataset, version))
    for note in report.notes:
        console.print(f"[yellow]![/] {note}", highlight=False)
    if report.identical:
        console.print(f"[green]✓[/] {dataset} {version}: rebuilt byte for byte")
        return
    for rel in report.differing:
        console.print(f"[red]✗[/] {rel} differs", highlight=False)
    raise typer.Exit(1)


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


@app.command()
def demo(
    workdir: Annotated[Path, typer.Option(help="Scratch folder for the demo (replaced).")] = Path(
        "data/demo"
    ),
    posts: Annotated[int, typer.Option(min=1_000, help="Posts in the synthetic export.")] = 300_000,
    video_sources: Annotated[
        int, typer.Option(min=0, help="Sources of the small real-video corpus in the export.")
    ] = 3,
    s3: Annotated[
        bool,
        typer.Option(
            help="Also publish to a local S3 server (SeaweedFS) and run the access desk: "
            "grants, presigned downloads, the access log."
        ),
    ] = True,
) -> None:
    """End to end on the embedded defaults: synth export → curate → annotate → release (local
    store and S3) → researchers request access and download → opt-out requests → patch release
    → withdrawal notices → verify."""
    from contextlib import ExitStack

    from curation.release.verify import verify_release
    from flows.curate import curate as curate_flow
    from flows.demo import demo_s3
    from flows.opt_out import opt_out
    from flows.release import release as release_flow
    from privacy.blocklist import load_blocklist

    if workdir.exists():
        shutil.rmtree(workdir)
    export, curation, store = workdir / "export", workdir / "curation", workdir / "releases"
    optout = workdir / "optout"
    if create_key_file(DEMO_KEY):
        console.print(
            f"created a demo pseudonym key at {DEMO_KEY} (outside the repo; in "
            f"production give key_file or set ${KEY_ENV})"
        )
    _export(export, posts, seed=7, video_sources=video_sources)
    cur = _run(
        lambda: curate_flow(
            CurateConfig(
                export_dir=export, output_dir=curation, optout_dir=optout, key_file=DEMO_KEY
            )
        )
    )
    _run(lambda: _annotations(curation, export / "annotations", seed=7))
    with ExitStack() as stack:
        dist = _run(lambda: stack.enter_context(demo_s3(workdir, store))) if s3 else None
        if dist is not None:
            console.print(f"S3: SeaweedFS at {dist.server.endpoint}, releases → {dist.releases}")
        s3_url, access = (dist.releases, dist.access) if dist else (None, None)
        rel = _run(
            lambda: release_flow(
                ReleaseConfig(
                    curation_dir=curation,
                    annotations_dir=export / "annotations",
                    store=store,
                    key_file=DEMO_KEY,
                    optout_dir=optout,
                    s3_url=s3_url,
                    access=access,
                )
            )
        )
        holder = _demo_researchers(dist, workdir) if dist else None
        opted = _run(
            lambda: opt_out(
                OptOutConfig(
                    requests=export / "opt_out_requests.csv",
                    export_dir=export,
                    curation_dir=curation,
                    optout_dir=optout,
                    store=store,
                    key_file=DEMO_KEY,
                    s3_url=s3_url,
                    access=access,
                )
            )
        )
        console.print(_funnel_table(cur.funnel))
        console.print(
            f"shortlist {cur.shortlist:,} · companion {cur.companion:,} · released "
            f"{rel.counts['labeled']:,} labeled (train {rel.counts['train']:,} / validation "
            f"{rel.counts['validation']:,} / test {rel.counts['test']:,}) + "
            f"{rel.counts['unlabeled']:,} unlabeled; left out: "
            + (
                ", ".join(f"{k} {v:,}" for k, v in read_manifest(rel.path)["removals"].items())
                or "none"
            )
        )
        _print_opt_out(opted)
        latest = store / "massiv" / (opted.patch or "1.0.0")
        problems = verify_release(latest, load_blocklist(optout))
        if problems:
            console.print(f"[red]verify failed:[/] {problems}")
            raise typer.Exit(1)
        if dist is not None and holder is not None:
            _demo_after_opt_out(dist, workdir, holder, opted.patch or "1.0.0", optout)
    console.print(f"[green]release:[/] {rel.path}  (manifest sha256 {rel.manifest_sha256})")
    console.print(
        f"[green]latest:[/] {latest}  (verified: files, blocklist commitment, no opted-out row)"
    )
    console.print(f"funnel: {curation / 'funnel.json'} · opt-out evidence: {optout}")


def _download_all(dist: DemoS3, desk: AccessDesk, grant: str, dest: Path) -> str:
    """Issue a grant's URLs for the current version and download them all (progress bar)."""
    from flows.demo import download

    urls = _run(lambda: desk.issue(grant))
    version = desk.current_version()
    manifest = desk.store.read_manifest(desk.dataset, version)
    with _progress() as bar:
        job = bar.add_task(f"downloading {version} with presigned URLs", total=len(urls))
        fetched = download(urls, manifest, dest / version, lambda n: bar.advance(job, n))
    query = urls[next(iter(urls))].split("?", 1)[1]
    console.print(
        f"  {grant}: {len(urls)} files of {version}, {fetched:,} bytes, sha256 checked "
        f"(URLs: {'SigV4' if 'X-Amz-Algorithm=AWS4-HMAC-SHA256' in query else '?'}, "
        f"expire in {desk.default_expiry_s} s; the log keeps only their sha256)"
    )
    return version


def _demo_researchers(dist: DemoS3, workdir: Path) -> str:
    """Before the opt-outs: two researchers ask; one is approved and downloads, one is not."""
    from flows.demo import demo_desk

    desk = demo_desk(dist)
    console.rule("access: requests and downloads")
    asha = desk.request(
        "Asha K", "IIT Delhi", "asha@iitd.example", "multilingual affect recognition", True
    )
    desk.approve(asha.id, "curator", days=180)
    other = desk.request("Sam P", "Ad Metrics Ltd", "sam@admetrics.example", "ad targeting", True)
    desk.reject(other.id, "curator", "not research (terms §1)")
    console.print(f"  {asha.id} approved for 180 days · {other.id} rejected (ad targeting)")
    _download_all(dist, desk, asha.id, workdir / "researcher")
    try:
        desk.issue(other.id)
    except AccessDenied as exc:
        console.print(f"  {other.id} asks for URLs → denied: {exc}")
    return asha.id


def _demo_after_opt_out(
    dist: DemoS3, workdir: Path, holder: str, current: str, optout: Path
) -> None:
    """After the opt-outs: who must be told, fresh URLs for the patch, the old version denied,
    then the S3 copy and the access log verified."""
    from flows.demo import demo_desk

    desk = demo_desk(dist)
    console.rule("access: after the opt-outs")
    withdrawn = desk.store.withdrawn(desk.dataset)
    for row in desk.report():
        if row["version"] in withdrawn:
            console.print(
                f"  notify {row['name']} <{row['email']}> ({row['grant']}): holds "
                f"{row['version']}, withdrawn ({withdrawn[row['version']]['reason']})"
            )
    for version in withdrawn:
        try:
            desk.issue(holder, version=version)
        except AccessDenied as exc:
            console.print(f"  {holder} asks for {version} → denied: {exc}")
    _download_all(dist, desk, holder, workdir / "researcher")
    desk.revoke(holder, "curator", "project ended")
    try:
        desk.issue(holder)
    except AccessDenied as exc:
        console.print(f"  after revocation → denied: {exc}")
    console.rule("verify")
    verify(f"{dist.releases}/{desk.dataset}/{current}", optout_dir=optout)
    access_verify(config=dist.access_config_file)
    console.print(
        f"  who was issued what, any time: massiv access report --config {dist.access_config_file}",
        highlight=False,
    )


# --- access -------------------------------------------------------------------------------

access_app = typer.Typer(
    no_args_is_help=True, help="Access requests, grants, URLs, the access log."
)
app.add_typer(access_app, name="access")
AccessConfigOption = Annotated[
    Path | None, typer.Option("--config", help="YAML config (AccessConfig fields to change).")
]


def _desk(config: Path | None, write: bool = True) -> AccessDesk:
    from curation.config import AccessConfig
    from privacy.access import AccessDesk, create_token_secret
    from privacy.access_log import create_signing_key
    from privacy.audit import access_log
    from storage.local import LocalStore
    from storage.s3 import S3Store

    cfg = _run(lambda: load_config(AccessConfig, config))
    if write and not cfg.signing_key.exists():
        public = create_signing_key(cfg.signing_key)
        console.print(
            f"created an access-log signing key at {cfg.signing_key} (keep it apart; its public "
            f"key, for `access verify`, is {public})"
        )
    log = _run(lambda: access_log(cfg, write))
    store = S3Store(cfg.s3_url) if cfg.s3_url else LocalStore(cfg.store)
    return AccessDesk(
        cfg.access_dir,
        log,
        store,
        cfg.dataset,
        create_token_secret(cfg.token_secret) if write else None,
        cfg.default_expiry_s,
    )


@access_app.command("request")
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


@access_app.command("approve")
def access_approve(
    grant: Annotated[str, typer.Argument(help="Request ID.")],
    curator: Annotated[str, typer.Option(help="Who decides.")],
    days: Annotated[int, typer.Option(min=1, help="How long the grant lasts.")] = 365,
    config: AccessConfigOption = None,
) -> None:
    """Approve a request."""
    g = _run(lambda: _desk(config).approve(grant, curator, days))
    console.print(f"{g.id} approved until {g.expires_at}")


@access_app.command("reject")
def access_reject(
    grant: Annotated[str, typer.Argument(help="Request ID.")],
    curator: Annotated[str, typer.Option(help="Who decides.")],
    reason: Annotated[str, typer.Option(help="Why (shown to the requester).")],
    config: AccessConfigOption = None,
) -> None:
    """Reject a request."""
    _run(lambda: _desk(config).reject(grant, curator, reason))
    console.print(f"{grant} rejected")


@access_app.command("revoke")
def access_revoke(
    grant: Annotated[str, typer.Argument(help="Grant ID.")],
    curator: Annotated[str, typer.Option(help="Who decides.")],
    reason: Annotated[str, typer.Option(help="Why.")],
    config: AccessConfigOption = None,
) -> None:
    """Revoke a grant: no more URLs, and issued tokens stop working."""
    _run(lambda: _desk(config).revoke(grant, curator, reason))
    console.print(f"{grant} revoked")


@access_app.command("urls")
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


@access_app.command("fetch")
def access_fetch(
    token: Annotated[str, typer.Argument(help="A massiv://download?… token.")],
    out: Annotated[Path, typer.Option(help="Where to write the file.")],
    config: AccessConfigOption = None,
) -> None:
    """Download one file of the local store with a token."""
    path = _run(lambda: _desk(config).fetch(token, out))
    console.print(f"[green]✓[/] {path}")


@access_app.command("report")
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


@access_app.command("verify")
def access_verify(config: AccessConfigOption = None) -> None:
    """Check the access log's chain, checkpoint signatures and signed head, and that every
    anchored head is still in it (exit 1 if not)."""
    from curation.config import AccessConfig
    from privacy.access_log import load_public_key
    from privacy.audit import access_log

    cfg = _run(lambda: load_config(AccessConfig, config))
    log = access_log(cfg, write=False)
    key = _run(lambda: load_public_key(cfg.public_key or cfg.signing_key.with_suffix(".pub")))
    anchors_at = log.anchors
    anchored = _run(anchors_at.heads) if anchors_at else None
    problems = log.verify(key, anchored)
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


@access_app.command("anchor")
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


def main() -> None:
    app()


if __name__ == "__main__":
    main()
