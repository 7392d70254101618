"""Flow `opt_out` (daily): requests → near-duplicates → blocklist → patch → purge → mirror.

1. intake: new requests of the form's export (a request ID seen before is skipped) are checked
   and matched against the platform export; each gets an evidence record.
2. near_duplicates: the matched videos' copies among the release candidates, from the curation
   runs' saved clusters (a search only for videos a run did not see), and exact re-uploads.
3. blocklist: the matched videos, creators and copies go on the permanent blocklist as keyed
   MACs, with the videos' frame hashes.
4. patch: if the latest version holds anything now blocked, a patch release (x.y.z+1) is built
   from it and the blocklist alone; every version holding blocked rows is withdrawn.
5. purge: withdrawn versions past their retention lose their files (logged).
6. mirror: with s3_url, the same on S3.
Each step is idempotent, so a run that crashed is completed by the next one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from prefect import flow

from curation.config import OptOutConfig
from curation.release.copies import near_duplicates_of
from curation.release.patch import mirror_to_s3, publish_patch, purge_expired
from flows.tasks import step
from privacy.access_log import load_signing_key
from privacy.audit import record_events
from privacy.blocklist import blocklist_lock, load_blocklist
from privacy.keys import load_key
from privacy.opt_out import block_requests, intake, load_evidence, outcomes, with_same_media
from storage.local import LocalStore, newest_live, unchecked_batch
from storage.runs import PlatformExport
from storage.s3 import S3Store

# The order of the stages; the README's "What runs" and the design notes follow it.
STAGES = ("intake", "near_duplicates", "blocklist", "patch", "purge", "mirror")


@dataclass
class OptOutResult:
    requests: dict[str, int]  # new requests by status
    new_entries: int
    near_duplicates: int
    patch: str | None = None  # the version published, if any
    withdrawn: list[str] = field(default_factory=list)
    purged: list[dict[str, Any]] = field(default_factory=list)


@flow(name="opt_out", log_prints=True)
def opt_out(config: OptOutConfig = OptOutConfig(), now: datetime | None = None) -> OptOutResult:
    """Process the opt-out requests not seen before; see the module docstring."""
    now = now or datetime.now(UTC)
    key = load_key(config.key_file, config.key_version)
    if config.access is not None:  # the log's key must be there before any state changes
        load_signing_key(config.access.signing_key)
    export, store = PlatformExport(config.export_dir), LocalStore(config.store)
    with blocklist_lock(config.opt_out_dir):
        # What a crashed run changed and did not log yet is logged first.
        record_events(config.access, store, config.dataset, config.opt_out_dir, late=True)
        blocklist = load_blocklist(config.opt_out_dir)
        blocklist.check_key(key)
        if _interrupted(store, config.dataset):  # the desk serves nothing until this is done
            print("opt-out: the last run stopped before its patch; finishing that first")
            publish_patch(config, blocklist, now, key)
        evidence = load_evidence(config.opt_out_dir)
        requests = step("intake", intake, config.requests, export, config.platform_url, evidence)
        frames, near = step("near_duplicates", near_duplicates_of, config, requests.accepted, key)
        copies = with_same_media(near, export, requests.accepted)
        blocklist, added, evidence = step(
            "blocklist",
            block_requests,
            config.opt_out_dir,
            blocklist,
            requests,
            copies,
            frames,
            key,
            evidence,
            now,
            lambda batch: _require(config, store, batch),
        )
        record_events(config.access, store, config.dataset, config.opt_out_dir)
        try:
            patch, withdrawn = step("patch", publish_patch, config, blocklist, now, key)
        except BaseException:
            mirror_to_s3(config, store, now)  # the withdrawals, at least
            raise
        purged = step("purge", purge_expired, config, evidence, now)
        step("mirror", mirror_to_s3, config, store, now)
    counts, near_duplicates = outcomes(config.opt_out_dir, now), copies["post_id"].n_unique()
    print(
        f"opt-out: {requests.resolved.height} new requests {counts}; {added} blocklist entries "
        f"added ({near_duplicates} near-duplicates); patch {patch or 'none'}; withdrawn "
        f"{withdrawn or 'none'}; purged {[p['version'] for p in purged] or 'none'}"
    )
    return OptOutResult(counts, added, near_duplicates, patch, withdrawn, purged)


def _require(config: OptOutConfig, store: LocalStore, batch: int) -> None:
    """Before a new blocklist batch is saved: no version unchecked against it is served."""
    store.require_batch(config.dataset, batch)
    if config.s3_url:
        S3Store(config.s3_url).mirror_coverage(config.dataset, store.coverage(config.dataset))


def _interrupted(store: LocalStore, dataset: str) -> bool:
    """Whether a run saved a blocklist batch and stopped before checking the current version."""
    current = newest_live(store.versions(dataset), store.withdrawn(dataset))
    return current is not None and unchecked_batch(store, dataset, current) is not None
