"""The access log kept in step with the store: one entry for every blocklist batch, published
version, withdrawal and purge, however a run ended."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from privacy.access import AccessDesk
from privacy.access_log import AccessLog, load_signing_key
from privacy.anchors import HeadAnchors
from privacy.blocklist import load_blocklist
from privacy.config import AccessConfig
from storage.local import LocalStore


def access_log(access: AccessConfig, write: bool = True) -> AccessLog:
    """The access log of a config: with its signing key to append, without to read and
    verify; with its anchors when configured."""
    return AccessLog(
        access.access_dir / "access-log.jsonl",
        load_signing_key(access.signing_key) if write else None,
        access.checkpoint_every,
        HeadAnchors(access.anchors) if access.anchors else None,
    )


def open_desk(access: AccessConfig, write: bool = True) -> AccessDesk:
    """The access desk of a config, on its store (S3 when `s3_url` is set), as the CLI and the
    site both use it. `write`: with the log's signing key and the token secret."""
    from privacy.access import AccessDesk, create_token_secret
    from storage.s3 import S3Store

    store = S3Store(access.s3_url) if access.s3_url else LocalStore(access.store)
    return AccessDesk(
        access.access_dir,
        access_log(access, write),
        store,
        access.dataset,
        create_token_secret(access.token_secret) if write else None,
        access.default_expiry_s,
    )


def record_events(
    access: AccessConfig | None,
    store: LocalStore,
    dataset: str,
    opt_out_dir: Path | None = None,
    late: bool = False,
) -> int:
    """Bring the access log up to the store: every blocklist batch (opt_out_applied), published
    version (release_published), withdrawal and purge gets its one entry. Returns how many
    were added.

    The store is the truth and the log follows it: flows call this after each change and once
    more at the start of every run (`late=True`, which marks what it adds `recorded_late`), so
    a crash between a change and its entry delays the entry to the next run but never loses
    it. Callers hold the blocklist lock, so two flows never add the same entry."""
    if access is None:
        return 0
    log = access_log(access)
    entries = log.entries()  # read once
    seen = {
        (e["event"], e["details"].get("dataset", dataset), e["details"].get("version"))
        for e in entries
        if e["event"] in {"release_published", "release_withdrawn", "release_purged"}
    }
    batches = {
        e["details"].get("blocklist_batch") for e in entries if e["event"] == "opt_out_applied"
    }
    due: list[tuple[str, dict[str, Any]]] = []
    if opt_out_dir is not None:  # counts only: the log names no one who opted out
        blocked = load_blocklist(opt_out_dir).entries
        for batch, added in sorted(blocked.group_by("batch").len().iter_rows()):
            if batch not in batches:
                due.append(("opt_out_applied", {"blocklist_batch": batch, "entries_added": added}))
    marks = store.withdrawn(dataset)
    for version in store.versions(dataset):
        if ("release_published", dataset, version) not in seen:
            manifest = store.version_dir(dataset, version) / "manifest.json"
            doc = json.loads(manifest.read_text())
            due.append(
                (
                    "release_published",
                    {
                        "version": version,
                        "manifest_sha256": hashlib.sha256(manifest.read_bytes()).hexdigest(),
                        "parent": doc.get("parent"),
                        "counts": doc.get("counts"),
                    },
                )
            )
    for version, mark in marks.items():
        if ("release_withdrawn", dataset, version) not in seen:
            due.append(("release_withdrawn", {"version": version, "reason": mark["reason"]}))
        if mark.get("purged_at") and ("release_purged", dataset, version) not in seen:
            due.append(("release_purged", {"version": version, "purged_at": mark["purged_at"]}))
    for event, details in due:
        log.append(event, "massiv", {"dataset": dataset, **details, "recorded_late": late})
    log.try_anchor()  # each run anchors the head, however few entries it wrote
    return len(due)
