"""Reading a published version back: its rows, the rows the blocklist now names, and the checks
`massiv verify` runs (files against the manifest, blocklist commitment and attestation)."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from curation.release import bundle
from privacy.blocklist import Blocklist, removal_reasons


def read_data(folder: Path) -> pl.DataFrame:
    """Every data row of a published version, with `_file` (its shard) and `split`."""
    parts = []
    for sub in bundle.DATA_FOLDERS:
        for path in sorted((folder / sub).glob("*.parquet")):
            rel = path.relative_to(folder).as_posix()
            split = path.name.split("-")[0]
            parts.append(
                pl.read_parquet(path).with_columns(
                    pl.lit(rel).alias("_file"), pl.lit(split).alias("split")
                )
            )
    return pl.concat(parts, how="diagonal_relaxed")


def blocked_count(folder: Path, blocklist: Blocklist) -> int:
    """Rows of a (staged or published) version that the blocklist names; a release publishes
    only with 0, and a published version with more has content opted out since."""
    data = read_data(folder)
    return int(removal_reasons(data, blocklist).is_not_null().sum()) if data.height else 0


def verify_release(folder: Path, blocklist: Blocklist | None) -> list[str]:
    """Problems with a published version: its files against the manifest, and — with the
    blocklist — the manifest's commitment (the entries up to its batch hash to the committed
    sha256) and its attestation (none of its rows is on the blocklist up to that batch)."""
    problems = bundle.verify_bundle(folder)
    if problems or blocklist is None:
        return problems
    manifest = bundle.read_manifest(folder)
    committed = manifest.get("blocklist")
    if committed is None:
        return ["the manifest commits to no blocklist (built before opt-out processing)"]
    upto = blocklist.upto(committed["batch"])
    if upto.commitment()["sha256"] != committed["sha256"]:
        problems.append(
            f"blocklist commitment differs: the blocklist's entries up to batch "
            f"{committed['batch']} do not hash to the manifest's sha256 (entries lost or changed)"
        )
    blocked = blocked_count(folder, upto)
    if blocked or committed.get("released_rows_blocked") != 0:
        problems.append(
            f"attestation fails: {blocked} released rows are on the blocklist it commits to"
        )
    return problems
