"""A release fetched from a massiv site with an API token (`massiv fetch`): every file of the
current version, each through the URL the site's desk issued for it (and logged).

The token goes only to the site itself, never to a redirect or to the store a presigned URL
points at. Files land in a hidden partial folder that becomes `<dataset>-<version>` only once
all are there and `check` (the bundle's manifest check) finds nothing wrong: an interrupted or
bad fetch leaves no folder that looks complete. Paths the site names must stay inside it.
"""

from __future__ import annotations

import json
import shutil
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

CHUNK = 1 << 20
MANIFEST = "manifest.json"


class FetchError(Exception):
    """The site or the store said no, or what it sent cannot be used (one line)."""


@dataclass(frozen=True)
class Fetched:
    dataset: str
    version: str
    folder: Path
    files: int
    bytes: int


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # a redirect would carry the token elsewhere: refuse it


_SITE = urllib.request.build_opener(_NoRedirect)


def _open(url: str, token: str | None) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    opener = _SITE if token else urllib.request.build_opener()
    try:
        return opener.open(urllib.request.Request(url, headers=headers), timeout=60)
    except urllib.error.HTTPError as exc:
        try:
            detail = json.loads(exc.read()).get("detail", exc.reason)
        except ValueError:
            detail = exc.reason
        where = url.split("?", 1)[0]
        raise FetchError(f"{where}: {detail} (HTTP {exc.code})") from None
    except urllib.error.URLError as exc:
        raise FetchError(f"cannot reach {url.split('?', 1)[0]}: {exc.reason}") from None


def _inside(folder: Path, path: str) -> Path:
    rel = PurePosixPath(path)
    if rel.is_absolute() or not rel.parts or ".." in rel.parts or "\\" in path:
        raise FetchError(f"the site named a file outside the release: {path!r}")
    return folder.joinpath(*rel.parts)


def fetch_release(
    site: str,
    token: str,
    dest: Path,
    check: Callable[[Path], list[str]],
    on_file: Callable[[str, int, int], None] | None = None,
) -> Fetched:
    """Download the current version into `dest/<dataset>-<version>`; `on_file(path, bytes,
    files in all)` after each file."""
    site = site.rstrip("/")
    if not site.startswith(("http://", "https://")):
        raise FetchError(f"the site must be an http(s):// address, not {site!r}")
    with _open(f"{site}/api/release", token) as answer:
        listing = json.loads(answer.read())
    dataset, version = str(listing["dataset"]), str(listing["version"])
    folder = _inside(dest, f"{dataset}-{version}")
    if folder.parent != dest:
        raise FetchError(f"the site named a release outside {dest}: {folder.name!r}")
    if folder.exists():
        raise FetchError(f"{folder} is there already (delete it to fetch {version} again)")
    partial = dest / f".{folder.name}.partial"
    shutil.rmtree(partial, ignore_errors=True)  # what an interrupted fetch left
    try:
        total = _download(site, token, listing["files"], partial, on_file)
        (partial / MANIFEST).write_text(json.dumps(listing["manifest"], indent=2) + "\n")
        problems = check(partial)
        if problems:
            raise FetchError(f"{dataset} {version} does not match its manifest: {problems[0]}")
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)  # nothing half-fetched stays behind
        raise
    partial.rename(folder)
    return Fetched(dataset, version, folder, len(listing["files"]), total)


def _download(
    site: str,
    token: str,
    files: dict[str, str],
    partial: Path,
    on_file: Callable[[str, int, int], None] | None,
) -> int:
    total = 0
    for path, url in sorted(files.items()):
        target = _inside(partial, path)
        if path == MANIFEST:
            raise FetchError("the site listed a file named like the manifest")
        target.parent.mkdir(parents=True, exist_ok=True)
        if url.startswith("/"):
            answer = _open(site + url, token)  # a local download through the site's desk
        elif url.startswith(("http://", "https://")):
            answer = _open(url, None)  # a presigned URL: the token stays here
        else:
            raise FetchError(f"the site gave no usable link for {path}")
        with answer, target.open("wb") as out:
            while chunk := answer.read(CHUNK):
                out.write(chunk)
        size = target.stat().st_size
        total += size
        if on_file is not None:
            on_file(path, size, len(files))
    return total
