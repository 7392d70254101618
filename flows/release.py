"""Flow `release` (on demand): shortlist + annotations → vote → blocklist → splits → masking →
k-anonymity → bundle (leak gate, atomic publish) → S3.

Reads the curation run (shortlist, companion, funnel) and the annotations, each file once;
writes <store>/<dataset>/<version>/ (curation/release/bundle.py) and, privately, the version's
build records with every row left out (storage.runs.ReleaseBuild).
"""

from __future__ import annotations

from prefect import flow

from curation.config import ReleaseConfig
from curation.release.assemble import (
    drop_blocklisted,
    k_anonymize_rows,
    mask,
    split_labeled,
    vote,
    voted_posts,
)
from curation.release.build import ReleaseResult, build_bundle
from curation.release.inputs import preflight, read_inputs
from curation.release.versions import resolve_version
from flows.tasks import step
from privacy.access_log import load_signing_key
from privacy.audit import record_events
from privacy.blocklist import blocklist_lock, load_blocklist
from privacy.keys import load_key
from storage.local import LocalStore
from storage.s3 import S3Store

# The order of the stages; the README's "What runs" and the design notes follow it.
STAGES = ("vote", "blocklist", "splits", "masking", "k_anonymity", "bundle", "s3")


@flow(name="release", log_prints=True)
def release(
    config: ReleaseConfig = ReleaseConfig(), blocklist_batch: int | None = None
) -> ReleaseResult:
    """Build and publish one version of the dataset; refuses to overwrite a published one.

    `blocklist_batch`: apply the blocklist only up to this batch (a rebuild of an old version);
    default: all of it."""
    requested, config = config, resolve_version(config)
    preflight(config)
    if config.access is not None:  # the log's key must be there before anything is published
        load_signing_key(config.access.signing_key)
    key = load_key(config.key_file, config.key_version)
    inputs = step("read", read_inputs, config)
    votes = step("vote", vote, config, inputs)
    with blocklist_lock(config.opt_out_dir):  # no opt-out run may add entries until published
        if requested.bump is not None:  # an opt-out patch may have been published meanwhile
            config = resolve_version(requested)
            preflight(config)
        store = LocalStore(config.store)
        # What a crashed run changed and did not log yet is logged first.
        record_events(config.access, store, config.dataset, config.opt_out_dir, late=True)
        blocklist = load_blocklist(config.opt_out_dir)
        if blocklist_batch is not None:
            blocklist = blocklist.upto(blocklist_batch)
        blocklist.check_key(key)
        rows = voted_posts(inputs, votes)
        rows = step("blocklist", drop_blocklisted, rows, blocklist, key)
        rows = step("splits", split_labeled, config, rows, key)
        rows = step("masking", mask, config, rows, key)
        tables = step("k_anonymity", k_anonymize_rows, config, rows)
        result = step("bundle", build_bundle, config, tables, votes, inputs, key, blocklist)
        record_events(config.access, store, config.dataset)
        # The local version is complete; S3 gets the same bytes, manifest last. Under the lock,
        # which the opt-out run's garbage collection of the bucket also holds.
        if config.s3_url:
            step("s3", S3Store(config.s3_url).publish, result.path, config.dataset, config.version)
            print(f"published to {config.s3_url}")
    print(
        f"release {config.dataset} {config.version}: {result.counts['labeled']:,} labeled, "
        f"{result.counts['unlabeled']:,} unlabeled → {result.path} (manifest sha256 "
        f"{result.manifest_sha256[:16]}…)"
    )
    return result
