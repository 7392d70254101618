"""Validated configuration for the flows: one pydantic model per flow, defaults = embedded demo.

A config file (YAML) only needs the fields it changes; an unknown or invalid field is an error
that names the field and the file.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import yaml
from pydantic import (
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    ValidationError,
    model_validator,
)

from privacy.config import AccessConfig, MaskingConfig


class ConfigError(ValueError):
    """A user-facing configuration problem; the message names the field and the file."""


class Strict(BaseModel):  # as privacy.config.Strict; here too, so linters see a pydantic model
    model_config = ConfigDict(extra="forbid", frozen=True)


# The opt-out folder; configs and build records written before the field had its one spelling
# name it `optout_dir`, which is still read.
OPT_OUT_DIR = Field(Path("data/optout"), validation_alias=AliasChoices("opt_out_dir", "optout_dir"))


S3_URL = re.compile(r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/.*)?$")


def _folder_or_s3(value: Any) -> Any:
    """A local folder as a Path; s3://bucket/prefix kept a string (a Path folds `//`)."""
    if isinstance(value, str) and value.startswith("s3://"):
        if not S3_URL.match(value):
            raise ValueError("an S3 location is s3://bucket/prefix, bucket in lower case")
        return value.rstrip("/")
    return Path(value) if isinstance(value, str) else value


FolderOrS3 = Annotated[Path | str, BeforeValidator(_folder_or_s3)]


def _file_or_postgres(value: Any) -> Path | str:
    """A SQLite file as a Path; a postgresql:// (or postgres://) URL kept a string. The whole
    validation (a plain validator): a union would make the URL a Path when read from JSON."""
    if isinstance(value, str) and value.startswith(("postgresql://", "postgres://")):
        return value
    if isinstance(value, Path) or (isinstance(value, str) and value and "://" not in value):
        return Path(value)
    raise ValueError("a SQLite file's path, or postgresql://user:password@host:port/database")


FileOrPostgres = Annotated[Path | str, PlainValidator(_file_or_postgres)]


class WindowConfig(Strict):
    """Which posts are in scope: the paper samples Feb–Oct 2021, 4.5–116 s long."""

    start: date = date(2021, 2, 1)
    end: date = date(2021, 10, 31)  # inclusive
    min_duration_s: float = Field(4.5, gt=0)
    max_duration_s: float = Field(116.0, gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> WindowConfig:
        if self.end < self.start:
            raise ValueError("end must not be before start")
        if self.max_duration_s < self.min_duration_s:
            raise ValueError("max_duration_s must not be below min_duration_s")
        return self


class SensitiveConfig(Strict):
    """Platform signals that mark a post as sensitive; any one of them excludes it."""

    max_report_count: int = Field(5, ge=0)
    blocked_moderation_labels: list[str] = ["adult", "violence", "hate", "self_harm", "drugs"]
    # Terms matched as whole words, case-insensitively, in caption and hashtags, per script.
    caption_terms: list[str] = [
        "nsfw",
        "gore",
        "suicide",
        "18plus",
        "अश्लील",
        "आत्महत्या",  # Hindi: obscene, suicide
        "ఆత్మహత్య",  # Telugu: suicide
        "தற்கொலை",  # Tamil: suicide
        "ಆತ್ಮಹತ್ಯೆ",  # Kannada: suicide
        "ਖੁਦਕੁਸ਼ੀ",  # Punjabi: suicide
        "আত্মহত্যা",  # Bengali: suicide
    ]


class EngagementConfig(Strict):
    """Engagement score = weighted interactions per day since posting (as of `snapshot`)."""

    snapshot: date = date(2021, 11, 1)
    view_weight: float = Field(1.0, ge=0)
    like_weight: float = Field(10.0, ge=0)
    share_weight: float = Field(40.0, ge=0)
    comment_weight: float = Field(20.0, ge=0)
    # Sampling weight is score ** power: 0 is uniform, 1 proportional to the score.
    power: float = Field(1.0, ge=0)


class SamplingConfig(Strict):
    """Popularity-weighted sampling without replacement, stratified by language × month."""

    seed: int = 2021
    pool_size: int = Field(30_000, gt=0)
    # Share of the pool per language; languages left out share the rest in proportion to their
    # size. Empty: every stratum gets a share proportional to its size.
    language_shares: dict[str, float] = {}
    # Candidates drawn per stratum beyond its quota, as a share of it, so that those the
    # blocklist and video stages drop leave enough; a stratum left short draws again.
    margin: float = Field(0.2, ge=0, le=10)

    @model_validator(mode="after")
    def _shares(self) -> SamplingConfig:
        if any(v < 0 for v in self.language_shares.values()):
            raise ValueError("language_shares must not be negative")
        if sum(self.language_shares.values()) > 1.0 + 1e-9:
            raise ValueError("language_shares must sum to at most 1")
        return self


class ShortlistConfig(Strict):
    """Posts sent for expert annotation, and the unlabeled companion set of their creators."""

    seed: int = 55
    size: int = Field(1_100, gt=0)
    companion_size: int = Field(2_000, ge=0)
    companion_per_creator: int = Field(5, gt=0)


class VideoConfig(Strict):
    """Video fingerprinting: where media and fingerprints live, how frames are sampled, and
    where the work runs (in process, a local Dask cluster, or a remote Dask scheduler)."""

    enabled: bool = True
    # Media files named <media_sha256>.mp4, in a folder or under s3://bucket/prefix (boto3 reads
    # AWS_ENDPOINT_URL and the AWS_* credentials); default: the export's media/ folder.
    media_root: str | None = None
    store: Path | None = None  # default: <curate output_dir>.fingerprints
    require_media: bool = False  # True: a post whose media file is missing is excluded
    sample_fps: float = Field(1.0, gt=0)
    max_frames: int = Field(60, gt=0, le=3_600)
    mode: Literal["fixed", "keyframes"] = "fixed"
    # Region hashes per frame: 90% crop windows on a crop_grid × crop_grid grid (0: none), and
    # up to max_insets split-screen / picture-in-picture rectangles (0: none).
    crop_grid: int = Field(3, ge=0, le=5)
    max_insets: int = Field(6, ge=0, le=16)
    batch_size: int = Field(16, gt=0)
    workers: int = Field(2, ge=0)  # 0: fingerprint in the flow's own process
    dask_address: str | None = None  # e.g. tcp://scheduler:8786; overrides `workers`
    # Near-duplicates: every frame pair within strict_bits surfaces its video pair (band join);
    # a pair is a duplicate when min_share of each video's frames are within frame_bits.
    blocks: int = Field(4, ge=2, le=16)
    strict_bits: int = Field(2, ge=0)
    frame_bits: int = Field(12, ge=0, le=32)
    min_share: float = Field(0.5, gt=0, le=1)
    min_aligned: float = Field(0.4, ge=0, le=1)  # … of which along one time line (speed, offset)
    max_bucket: int = Field(1_000, gt=1)
    probe_frames: int = Field(6, ge=0, le=60)  # frames per video whose regions join the search
    # Insets (split screens, picture-in-picture) are also searched with a 4-bit key between this
    # many frames per video (0: off); each frame costs ~4 s per 1.5M videos (docs/benchmarks.md).
    inset_probe_frames: int = Field(4, ge=0, le=60)
    # Known sensitive media: a Parquet file with a `hash` column of 64-bit frame pHashes.
    known_hashes: Path | None = None
    known_max_bits: int = Field(4, ge=0, le=5)
    # Optional NudeNet screening (extra `nudity`, AGPL-3.0 inside: off by default). When set,
    # nudity_frames colour frames per video are scored; a score ≥ the threshold excludes it.
    nudity_threshold: float | None = Field(None, gt=0, le=1)
    nudity_frames: int = Field(8, gt=0, le=60)

    @model_validator(mode="after")
    def _bands(self) -> VideoConfig:
        if self.strict_bits >= self.blocks:
            raise ValueError("strict_bits must be below blocks")
        return self


class CurateConfig(Strict):
    # A folder or s3://bucket/prefix (endpoint and credentials from boto3's environment).
    export_dir: FolderOrS3 = Path("data/export")
    output_dir: FolderOrS3 = Path("data/curation")
    # The opt-out blocklist (and opted-out videos' frame hashes): posts on it never re-enter. It
    # holds keyed MACs, so a non-empty blocklist needs the pseudonym key.
    opt_out_dir: Path = OPT_OUT_DIR
    key_file: Path | None = None  # else $MASSIV_PSEUDONYM_KEY
    key_version: str = "k1"
    window: WindowConfig = WindowConfig()
    sensitive: SensitiveConfig = SensitiveConfig()
    engagement: EngagementConfig = EngagementConfig()
    sampling: SamplingConfig = SamplingConfig()
    shortlist: ShortlistConfig = ShortlistConfig()
    video: VideoConfig = VideoConfig()
    # Where the tabular stages run: a local Dask cluster of `workers` single-threaded processes
    # (0: in the flow's own process), or the scheduler at `dask_address`, which fingerprinting
    # then shares. Results do not depend on either.
    workers: int = Field(2, ge=0)
    dask_address: str | None = None
    partition_rows: int = Field(1_000_000, gt=0)  # export rows per task in the first pass
    buckets: int | None = Field(None, gt=0)  # hash buckets by key; default: ~4M rows each


class SiteConfig(Strict):
    """`massiv serve`: where the site is reached, how it sends e-mail, and its own state."""

    access: AccessConfig = AccessConfig()  # the desk and store the site sits on
    base_url: str = Field("http://127.0.0.1:8000", pattern=r"^https?://[^/\s]+$")  # for e-mails
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(25, ge=1, le=65535)
    mail_from: str = Field("massiv@localhost", pattern=r"^[^@\s]+@[^@\s]+$")
    # Web-only state (pending confirmations, rate limits, sessions): SQLite in WAL mode, or a
    # postgresql:// URL when several machines serve the site.
    state: FileOrPostgres = Path("data/site/site.sqlite3")
    # Signs the forms' CSRF tokens; made on first use (a file only the site's account reads).
    secret_file: Path = Path.home() / ".config" / "massiv" / "site.key"
    form_posts_per_hour: int = Field(20, ge=1)  # per client address, every form together
    # The creators' opt-out form adds confirmed requests to the file the daily `opt-out` flow
    # reads, and shows their outcome from its evidence (as OptOutConfig names them).
    opt_out_requests: Path = Path("data/export/opt_out_requests.csv")
    opt_out_dir: Path = OPT_OUT_DIR
    platform_url: str = "https://sharevideo.example"
    # The curator's dashboard: an argon2 hash of the password (`massiv site set-password`).
    curator_password_file: Path = Path.home() / ".config" / "massiv" / "curator.argon2"
    session_idle_s: int = Field(8 * 3600, ge=60)
    logins_per_hour: int = Field(10, ge=1)  # per client address
    # The media gateway (/media/{video_id}) redirects to the platform's media store, a folder
    # (served by the site under /platform-media with signed, short-lived links) or s3://.
    media_root: str = "data/export/media"
    takedowns: Path | None = Path("data/export/takedowns.csv")  # the platform's takedown list
    media_url_s: int = Field(60, ge=1, le=3600)  # lifetime of the URL the gateway gives
    # "Am I in it?": a link's video is found in the export, an upload is fingerprinted in a
    # confined child process; both are matched as curation matched (its latest run's store).
    export_dir: Path = Path("data/export")
    curation_dir: Path = Path("data/curation")
    lookups_per_hour: int = Field(5, ge=1)  # per client address
    upload_max_mb: int = Field(100, ge=1, le=2048)
    upload_max_s: float = Field(180, gt=0, le=3600)  # the clip's duration
    upload_timeout_s: float = Field(30, gt=0, le=600)  # to decode and fingerprint it
    upload_decodes: int = Field(2, ge=1, le=64)  # at once; more are asked to come back later


class BundleConfig(Strict):
    shard_rows: int = Field(50_000, gt=0)
    row_group_rows: int = Field(10_000, gt=0)
    split_ratios: tuple[float, float, float] = (0.6, 0.2, 0.2)
    split_seed: int = 602_020

    @model_validator(mode="after")
    def _ratios(self) -> BundleConfig:
        if abs(sum(self.split_ratios) - 1.0) > 1e-9 or min(self.split_ratios) < 0:
            raise ValueError("split_ratios must be non-negative and sum to 1")
        return self


class ReleaseConfig(Strict):
    dataset: str = Field("massiv", pattern=r"^[a-z0-9][a-z0-9_-]*$")
    version: str = Field("1.0.0", pattern=r"^\d+\.\d+\.\d+$")
    parent: str | None = None
    # Set: `version` is the next major/minor/patch after the newest version ever published
    # (local store and S3; 1.0.0 when there is none), and `parent` defaults to the newest one
    # whose files are still there. What the build records is the resolved version.
    bump: Literal["major", "minor", "patch"] | None = None
    curation_dir: Path = Path("data/curation")
    annotations_dir: Path = Path("data/export/annotations")
    store: Path = Path("data/releases")
    key_file: Path | None = None  # else $MASSIV_PSEUDONYM_KEY
    key_version: str = "k1"
    opt_out_dir: Path = OPT_OUT_DIR  # the opt-out blocklist and evidence
    access: AccessConfig | None = None  # set: publishing is written to the access log
    # Also publish to S3 (s3://bucket/prefix; endpoint and credentials from boto3's standard
    # environment): objects first, the manifest last, by a conditional put.
    s3_url: str | None = Field(None, pattern=r"^s3://[a-z0-9][a-z0-9.-]+(/.*)?$")
    # Share of annotation rows naming posts outside the shortlist above which the release stops:
    # such annotations were most likely made for another curation run.
    max_unknown_annotation_share: float = Field(0.05, ge=0, le=1)
    # Onboarding gate: annotators answer the gold set (gold_labels.parquet and
    # gold_annotations.parquet in annotations_dir) first; below this accuracy for a task (or with
    # fewer than min_gold_items answers) all their labels of that task are discarded before
    # voting. null turns the gate off (and the gold files are not read).
    min_gold_accuracy: float | None = Field(0.5, ge=0, le=1)
    min_gold_items: int = Field(20, ge=1)
    masking: MaskingConfig = MaskingConfig()
    bundle: BundleConfig = BundleConfig()

    @model_validator(mode="after")
    def _version_or_bump(self) -> ReleaseConfig:
        if self.bump is not None and "version" in self.model_fields_set:
            raise ValueError("bump: give a version or a bump, not both")
        return self


class OptOutConfig(Strict):
    """Daily opt-out processing: the form's export in, blocklist and evidence updated, and a
    patch release of the latest version published when it holds anything now blocked."""

    requests: Path = Path("data/export/opt_out_requests.csv")  # CSV or JSON
    export_dir: Path = Path("data/export")  # the platform export: who owns which video
    curation_dir: Path = Path("data/curation")  # its run config locates the fingerprints
    opt_out_dir: Path = OPT_OUT_DIR
    store: Path = Path("data/releases")
    dataset: str = Field("massiv", pattern=r"^[a-z0-9][a-z0-9_-]*$")
    key_file: Path | None = None  # else $MASSIV_PSEUDONYM_KEY
    key_version: str = "k1"
    platform_url: str = "https://sharevideo.example"  # request targets must be on this site
    patch_release: bool = True
    access: AccessConfig | None = None  # set: opt-outs, patches, withdrawals are logged
    s3_url: str | None = Field(None, pattern=r"^s3://[a-z0-9][a-z0-9.-]+(/.*)?$")  # as release
    # A withdrawn version's files are kept this long (a holder may still be told what to
    # delete), then purged; the purge is logged.
    retention_days: int = Field(30, ge=0)


M = TypeVar("M", bound=BaseModel)


def _describe(err: ValidationError, source: str) -> str:
    first = err.errors()[0]
    field = ".".join(str(p) for p in first["loc"]) or "(top level)"
    more = f" (+{err.error_count() - 1} more)" if err.error_count() > 1 else ""
    return f"config error in {source}: {field}: {first['msg']}{more}"


def load_config(model: type[M], path: Path | None = None, **overrides: Any) -> M:
    """Build `model` from defaults, then the YAML file at `path`, then keyword overrides."""
    data: dict[str, Any] = {}
    source = "defaults"
    if path is not None:
        source = str(path)
        if not path.is_file():
            raise ConfigError(f"config error: file not found: {path}")
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            raise ConfigError(f"config error in {path}: not valid YAML{where}") from None
        if not isinstance(loaded, dict):
            raise ConfigError(f"config error in {path}: top level must be a mapping")
        data.update(loaded)
    data.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise ConfigError(_describe(err, source)) from None


PATH_FIELDS = (
    "export_dir",
    "output_dir",
    "curation_dir",
    "annotations_dir",
    "store",
    "key_file",
    "opt_out_dir",
    "requests",
    "fingerprints",
    "s3_url",
    "access_dir",
    "signing_key",
    "public_key",
    "token_secret",
    # Where the work runs, not what it computes: results do not depend on these.
    "workers",
    "dask_address",
    "partition_rows",
    "buckets",
)


def config_hash(config: BaseModel) -> str:
    """sha256 of the config's canonical JSON, paths excluded (where data sits is not what it is)."""
    doc = config.model_dump(mode="json")
    for key in PATH_FIELDS:
        doc.pop(key, None)
    canonical = json.dumps(doc, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()
