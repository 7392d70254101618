"""The researchers' half of `massiv demo`: the access desk in use, from a researcher's request
to the notice an opt-out calls for, then the S3 copy and the access log verified."""

from __future__ import annotations

from pathlib import Path

from flows.cli.access_log import access_verify
from flows.cli.common import _progress, _run, console
from flows.cli.demo_s3 import DemoS3, demo_desk, download
from flows.cli.store import verify
from privacy.access import AccessDenied, AccessDesk


def _download_all(dist: DemoS3, desk: AccessDesk, grant: str, dest: Path) -> str:
    """Issue a grant's URLs for the current version and download them all (progress bar)."""
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
    dist: DemoS3, workdir: Path, holder: str, current: str, opt_out_folder: Path
) -> None:
    """After the opt-outs: who must be told, fresh URLs for the patch, the old version denied,
    then the S3 copy and the access log verified."""
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
    verify(f"{dist.releases}/{desk.dataset}/{current}", opt_out_dir=opt_out_folder)
    access_verify(config=dist.access_config_file)
    console.print(
        f"  who was issued what, any time: massiv access report --config {dist.access_config_file}",
        highlight=False,
    )
