"""The folders the flows write and read, one class per kind; nothing else spells their files.

- `PlatformExport`: what the platform hands over (posts/, creators/ as Parquet parts; media/).
- `CurationRun`: one `curate` run (`<output_dir>.runs/<stamp>`; `output_dir` links to the newest
  complete one). On S3: `<output>/runs/<stamp>/`, and `<output>/LATEST` names the newest.
- `AnnotationsFolder`: the labels a release reads (from the annotation tool, or `synth`).
- `ReleaseBuild`: the private records of one version, beside the versions and never in them.
- `OptOutFolder`: the permanent opt-out state (blocklist, frame hashes, evidence).
"""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from storage import location
from storage.files import fsync_dir, fsync_tree
from storage.location import Location

# The tables of a curation run, in the order the stages write them.
CURATION_TABLES = (
    "pool",  # the engagement-weighted pool, screened
    "shortlist",  # for expert annotation
    "companion",  # unlabeled recent posts of the shortlisted creators
)


RUNNING = ".running"  # held (flock) by the process writing the run, until it publishes
_held: dict[Path, int] = {}


def _hold(lock: Path) -> None:
    fd = os.open(lock, os.O_CREAT | os.O_RDWR, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    _held[lock] = fd


def _release(lock: Path) -> None:
    fd = _held.pop(lock, None)
    lock.unlink(missing_ok=True)
    if fd is not None:
        os.close(fd)


def _is_abandoned(lock: Path, grace_s: float = 3_600) -> bool:
    """Whether no live process holds `lock`. A folder without one is abandoned once it is an
    hour old (its writer died between making the folder and locking it, or predates locks)."""
    if not lock.exists():
        return time.time() - lock.parent.stat().st_mtime > grace_s
    fd = os.open(lock, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)  # closing drops the lock this call may have taken
    return True


@dataclass(frozen=True)
class PlatformExport:
    root: Path

    @property
    def posts(self) -> list[Path]:
        return sorted((self.root / "posts").glob("*.parquet"))

    @property
    def creators(self) -> list[Path]:
        return sorted((self.root / "creators").glob("*.parquet"))

    @property
    def media(self) -> Path:
        """Media files named by their sha256 (`<media_sha256>.mp4`)."""
        return self.root / "media"


@dataclass(frozen=True)
class CurationRun:
    root: Path
    # s3:// folder the run is published to; `root` is then a local staging folder, and the
    # working tables live on S3 too, where every worker reaches them.
    remote: str | None = None

    MARKER = "run.json"  # written last: a run folder with it is complete
    LATEST = "LATEST"  # on S3: the newest complete run's stamp

    def table(self, name: str) -> Path:
        if name not in CURATION_TABLES:
            raise ValueError(f"a curation run has no table {name!r}")
        return self.root / f"{name}.parquet"

    def exclusions(self, stage: str) -> Path:
        """(post_id, stage, reason, detail) of every row `stage` dropped."""
        return self.root / "exclusions" / f"{stage}.parquet"

    @property
    def work(self) -> str:
        """Narrow working tables of the tabular stages; deleted when the run ends."""
        return location.join(self.remote or self.root, "work")

    @property
    def quarantine(self) -> Path:
        """Rejected export rows, whole, with the reason."""
        return self.root / "quarantine.parquet"

    @property
    def quotas(self) -> Path:
        return self.root / "quotas.parquet"

    @property
    def neardup_clusters(self) -> Path:
        """(post_id, cluster, representative, view, matches) of every fingerprinted post."""
        return self.root / "neardup_clusters.parquet"

    @property
    def funnel(self) -> Path:
        return self.root / "funnel.json"

    @property
    def marker(self) -> Path:
        return self.root / self.MARKER

    @property
    def complete(self) -> bool:
        return self.marker.is_file()

    @staticmethod
    def runs_dir(output_dir: Path) -> Path:
        return output_dir.with_name(output_dir.name + ".runs")

    @staticmethod
    def fingerprint_store(output_dir: Location) -> Path:
        """The default fingerprint store of runs written to `output_dir` (kept across runs);
        for an S3 output, a local cache named after it."""
        if location.is_s3(output_dir):
            bucket, prefix = location.split_s3(output_dir)
            return Path.home() / ".cache" / "massiv" / "fingerprints" / bucket / prefix
        output_dir = Path(output_dir)
        return output_dir.with_name(output_dir.name + ".fingerprints")

    @classmethod
    def new(cls, output_dir: Location) -> CurationRun:
        """A private folder for one run; concurrent runs never share one. Runs that died before
        they finished (killed, out of memory) are deleted here, with their working tables."""
        stamp = f"{datetime.now(UTC):%Y%m%dT%H%M%S.%fZ}-{uuid.uuid4().hex[:8]}"
        run = cls(cls.staging_dir(output_dir) / stamp, cls._remote(output_dir, stamp))
        (run.root / "exclusions").mkdir(parents=True)
        _hold(run.root / RUNNING)
        cls.sweep(output_dir)
        return run

    @staticmethod
    def staging_dir(output_dir: Location) -> Path:
        """Where runs are written: beside `output_dir`, or for S3 in a local staging folder."""
        if location.is_s3(output_dir):
            bucket, prefix = location.split_s3(output_dir)
            return Path(tempfile.gettempdir()) / "massiv-runs" / bucket / prefix
        return CurationRun.runs_dir(Path(output_dir))

    @staticmethod
    def _remote(output_dir: Location, stamp: str) -> str | None:
        return location.join(output_dir, "runs", stamp) if location.is_s3(output_dir) else None

    @classmethod
    def sweep(cls, output_dir: Location) -> list[str]:
        """Delete the runs under `output_dir` that are not complete and whose process is gone
        (its lock on RUNNING was released by the kernel when it died); their stamps."""
        runs = cls.staging_dir(output_dir)
        staged = location.is_s3(output_dir)  # a staged run is unpublished even with its marker
        dead = []
        for root in sorted(runs.iterdir()) if runs.is_dir() else []:
            if not root.is_dir() or root.name.startswith("00000000-previous"):
                continue
            if (cls(root).complete and not staged) or not _is_abandoned(root / RUNNING):
                continue
            remote = cls._remote(output_dir, root.name)
            if remote is not None:
                location.remove_tree(remote)
            shutil.rmtree(root, ignore_errors=True)
            dead.append(root.name)
        return dead

    @classmethod
    def latest(cls, output_dir: Path) -> CurationRun:
        """The run `output_dir` links to, resolved once: a run that finishes meanwhile cannot
        mix its files into what the caller reads."""
        return cls(output_dir.resolve())

    def publish(self, output_dir: Location, keep: int = 3) -> None:
        """Make `output_dir` a link to this finished run in one atomic rename, then prune.

        The `keep` newest complete runs stay, so a release still reading an older run is not
        pulled from under it. On S3 the run is uploaded, its marker last, then LATEST names it."""
        if self.remote is not None:
            self._publish_s3(str(output_dir), keep)
            return
        _release(self.root / RUNNING)
        output_dir = Path(output_dir)
        fsync_tree(self.root)
        runs = self.runs_dir(output_dir)
        link = output_dir.with_name(f".{output_dir.name}.{uuid.uuid4().hex[:8]}.link")
        os.symlink(os.path.relpath(self.root, output_dir.parent), link)
        if output_dir.exists() and not output_dir.is_symlink():
            output_dir.rename(runs / f"00000000-previous-{uuid.uuid4().hex[:8]}")
        os.replace(link, output_dir)
        fsync_dir(output_dir.parent)
        done = sorted(p for p in runs.iterdir() if CurationRun(p).complete)
        for old in done[:-keep]:
            if old.resolve() != self.root.resolve():
                shutil.rmtree(old, ignore_errors=True)

    def _publish_s3(self, output_dir: str, keep: int) -> None:
        assert self.remote is not None
        location.remove_tree(self.work)  # never published, whatever the caller did
        location.upload_tree(self.root, self.remote, last=self.MARKER, skip=(RUNNING,))
        location.write_bytes(location.join(output_dir, self.LATEST), self.root.name.encode())
        _release(self.root / RUNNING)
        shutil.rmtree(self.root, ignore_errors=True)  # the staging folder
        runs = location.join(output_dir, "runs")
        done = sorted(
            f.rsplit("/", 2)[-2] for f in location.list_files(runs, "/" + self.MARKER, True)
        )
        for stamp in done[:-keep]:
            if stamp != self.root.name:
                location.remove_tree(location.join(runs, stamp))

    @classmethod
    def pull(cls, output_dir: str, local_output: Path) -> CurationRun:
        """The newest complete run under an s3:// output, downloaded and published at
        `local_output` (a release reads a local run)."""
        stamp = location.read_bytes(location.join(output_dir, cls.LATEST)).decode().strip()
        remote = location.join(output_dir, "runs", stamp)
        run = cls(cls.runs_dir(local_output) / stamp)
        if not run.complete:
            staging = run.root.with_name(f".{stamp}.{uuid.uuid4().hex[:8]}")
            written = location.download_tree(remote, staging)
            if staging / cls.MARKER not in written:
                shutil.rmtree(staging, ignore_errors=True)
                raise FileNotFoundError(f"{remote}: no {cls.MARKER}, the run is not complete")
            os.replace(staging, run.root)
        run.publish(local_output)
        return run


@dataclass(frozen=True)
class AnnotationsFolder:
    root: Path

    @property
    def annotations(self) -> Path:
        """(post_id, annotator_id, task, label, …): one row per label given."""
        return self.root / "annotations.parquet"

    @property
    def expert_resolutions(self) -> Path:
        return self.root / "expert_resolutions.parquet"

    @property
    def gold_labels(self) -> Path:
        return self.root / "gold_labels.parquet"

    @property
    def gold_annotations(self) -> Path:
        return self.root / "gold_annotations.parquet"


@dataclass(frozen=True)
class ReleaseBuild:
    """`<store>/<dataset>/.builds/<version>.*`: build records name local paths and hold raw
    IDs, so they are for the curator only."""

    root: Path  # the .builds folder
    version: str

    @property
    def record(self) -> Path:
        """What the version was built from (inputs, config), for rebuilds."""
        return self.root / f"{self.version}.json"

    @property
    def needles(self) -> Path:
        """The leak gate's keyed needles, for scanning later patches."""
        return self.root / f"{self.version}.needles.parquet"

    def exclusions(self, stage: str) -> Path:
        """(post_id, stage, reason, detail) of every row `stage` left out of the version."""
        return self.root / f"{self.version}.exclusions" / f"{stage}.parquet"

    @property
    def funnel(self) -> Path:
        return self.root / f"{self.version}.funnel.json"

    @property
    def media(self) -> Path:
        """(video_id, media_sha256) of every released video: where the media gateway finds
        a video in the platform's media store (the release holds only the pseudonym)."""
        return self.root / f"{self.version}.media.parquet"


@dataclass(frozen=True)
class OptOutFolder:
    root: Path

    @property
    def blocklist(self) -> Path:
        """(kind, mac, reason, batch, key_fingerprint): permanent, keyed, never names anyone."""
        return self.root / "blocklist.parquet"

    @property
    def blocked_frames(self) -> Path:
        """(mac, frames) of opted-out videos, so their re-uploads are caught."""
        return self.root / "blocked_frames.parquet"

    @property
    def evidence(self) -> Path:
        """One record per request: what it matched, when, and in which version it took effect."""
        return self.root / "evidence.parquet"

    @property
    def lock(self) -> Path:
        return self.root / ".lock"
