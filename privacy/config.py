"""The settings the privacy layer reads: masking and access. `curation.config` embeds them in
the flows' configs; they live here so that privacy never imports curation."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Strict(BaseModel):
    """A config model: unknown fields are errors, values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class MaskingConfig(Strict):
    date_granularity: Literal["day", "week", "month"] = "week"
    pseudonym_chars: int = Field(16, ge=12, le=64)  # hex characters kept of the HMAC
    # Where approved researchers fetch a video: the platform's URLs carry the uploader's handle,
    # so released URLs are rebuilt from this template, which may hold only {video_id}.
    # The default is the media gateway of `massiv serve` (its base_url, then /media/…).
    media_url_template: str = "http://127.0.0.1:8000/media/{video_id}"
    # k-anonymity over language × published × duration × creator video count: the release takes
    # the finest step of privacy/kanon.py's ladder (not finer than date_granularity) at which at
    # most max_suppressed_share of the rows sit in classes below k; those rows are left out.
    k: int = Field(5, ge=1)
    max_suppressed_share: float = Field(0.02, ge=0, le=1)

    @model_validator(mode="after")
    def _template(self) -> MaskingConfig:
        fields = set(re.findall(r"{([^{}]*)}", self.media_url_template))
        if fields != {"video_id"}:
            raise ValueError("media_url_template must hold {video_id} and no other field")
        return self


class AccessConfig(Strict):
    """Who may download a release: requests, grants, URLs and the tamper-evident access log."""

    access_dir: Path = Path("data/access")  # grants.json, access-log.jsonl (+ .head, .pub)
    # The Ed25519 key that signs the log's checkpoints, kept apart from the store and the log
    # (a file only the curator's account reads); the demo makes one under ~/.config/massiv/.
    signing_key: Path = Path.home() / ".config" / "massiv" / "access-log.key"
    # The key `access verify` trusts; default: beside the signing key (.pub). Never one kept in
    # access_dir: whoever can rewrite the log could swap that too.
    public_key: Path | None = None
    token_secret: Path = Path.home() / ".config" / "massiv" / "download-token.key"
    store: Path = Path("data/releases")
    s3_url: str | None = Field(None, pattern=r"^s3://[a-z0-9][a-z0-9.-]+(/.*)?$")
    dataset: str = Field("massiv", pattern=r"^[a-z0-9][a-z0-9_-]*$")
    checkpoint_every: int = Field(100, ge=1)
    default_expiry_s: int = Field(3600, ge=1, le=7 * 24 * 3600)
    # Where checkpoints and flow runs copy the log's signed head, write-once (s3://bucket/prefix
    # or a folder), on storage the log's host cannot rewrite: `access verify` then detects a
    # log rolled back to an older, validly signed state. null: no anchoring.
    anchors: str | None = None
