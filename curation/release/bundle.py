"""The release bundle: deterministic Parquet shards, taxonomy, changelog and manifest.

    labeled/{train,validation,test}-NNNNN-of-NNNNN.parquet   unlabeled/unlabeled-…parquet
    taxonomy.parquet   agreement.parquet   splits.parquet   CHANGELOG.md   manifest.json
    README.md (dataset card)   LICENSE.md   stats.json   figures/*.png

Deterministic: rows arrive sorted, shards and row groups have fixed sizes, the Arrow schema is
explicit, and nothing holds wall-clock time; the same tables give byte-identical files.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from storage import location

MANIFEST = "manifest.json"
MANIFEST_FORMAT = "massiv-release/1"
DATA_FOLDERS = ("labeled", "unlabeled")  # the row shards; everything else is derived from them
POST_FIELDS = [
    pa.field("video_id", pa.string(), nullable=False),
    pa.field("creator_id", pa.string(), nullable=False),
    pa.field("language", pa.string(), nullable=False),
    pa.field("published", pa.string(), nullable=False),
    pa.field("duration_s", pa.float64(), nullable=False),
    pa.field("view_count", pa.int64(), nullable=False),
    pa.field("like_count", pa.int64(), nullable=False),
    pa.field("share_count", pa.int64(), nullable=False),
    pa.field("comment_count", pa.int64(), nullable=False),
    pa.field("media_url", pa.string(), nullable=False),
    pa.field("caption", pa.string()),  # scrubbed of mentions, e-mails, phone numbers, URLs
    pa.field("hashtags", pa.string()),
]
LABEL_FIELDS = [
    pa.field(t, pa.string(), nullable=False)
    for t in ("concept", "affect", "audio_type", "video_type")
]
SCHEMAS = {
    "labeled": pa.schema(POST_FIELDS + LABEL_FIELDS),
    "unlabeled": pa.schema(POST_FIELDS),
    # Achieved split shares per concept and per language (and overall).
    "splits": pa.schema(
        [
            pa.field("stratum", pa.string(), nullable=False),
            pa.field("level", pa.string()),
            pa.field("videos", pa.int64(), nullable=False),
            pa.field("train", pa.float64(), nullable=False),
            pa.field("validation", pa.float64(), nullable=False),
            pa.field("test", pa.float64(), nullable=False),
        ]
    ),
    # Krippendorff's alpha per taxonomy, per label (one-vs-rest) and per language (Table 6).
    "agreement": pa.schema(
        [
            pa.field("scope", pa.string(), nullable=False),
            pa.field("task", pa.string(), nullable=False),
            pa.field("level", pa.string()),
            pa.field("units", pa.int64(), nullable=False),
            pa.field("pairable_labels", pa.int64(), nullable=False),
            pa.field("alpha", pa.float64()),
        ]
    ),
    "taxonomy": pa.schema(
        [
            pa.field("taxonomy", pa.string()),
            pa.field("label_id", pa.int32()),
            pa.field("label", pa.string()),
            pa.field("name", pa.string()),
            pa.field("source", pa.string()),
        ]
    ),
}


def sha256_file(path: Path) -> str:
    return location.sha256(path)


@dataclass(frozen=True)
class WrittenFile:
    path: str  # relative to the bundle root, '/'-separated
    sha256: str
    bytes: int
    rows: int | None

    def as_dict(self) -> dict[str, Any]:
        return {"path": self.path, "sha256": self.sha256, "bytes": self.bytes, "rows": self.rows}


def _record(root: Path, path: Path, rows: int | None) -> WrittenFile:
    return WrittenFile(
        path.relative_to(root).as_posix(), sha256_file(path), path.stat().st_size, rows
    )


def record_files(root: Path, paths: list[Path]) -> list[WrittenFile]:
    """Manifest entries for files another module wrote under root (figures)."""
    return [_record(root, p, None) for p in paths]


def write_table(
    root: Path, rel: str, frame: pl.DataFrame, schema: pa.Schema, row_group_rows: int
) -> WrittenFile:
    """Write one Parquet file with a fixed schema and row-group size."""
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    table = frame.select(schema.names).to_arrow().cast(schema)
    pq.write_table(
        table,
        path,
        row_group_size=row_group_rows,
        compression="zstd",
        compression_level=3,
        write_statistics=True,
    )
    return _record(root, path, frame.height)


def write_shards(
    root: Path,
    folder: str,
    split: str,
    frame: pl.DataFrame,
    schema: pa.Schema,
    shard_rows: int,
    row_group_rows: int,
) -> list[WrittenFile]:
    """`folder/split-NNNNN-of-NNNNN.parquet`, `shard_rows` rows each (one empty shard if none)."""
    n_shards = max(1, math.ceil(frame.height / shard_rows))
    return [
        write_table(
            root,
            f"{folder}/{split}-{i:05d}-of-{n_shards:05d}.parquet",
            frame.slice(i * shard_rows, shard_rows),
            schema,
            row_group_rows,
        )
        for i in range(n_shards)
    ]


def write_text(root: Path, rel: str, text: str) -> WrittenFile:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return _record(root, path, None)


def schema_doc(schema: pa.Schema) -> list[dict[str, str]]:
    return [{"name": f.name, "type": str(f.type)} for f in schema]


def write_manifest(root: Path, header: dict[str, Any], files: list[WrittenFile]) -> str:
    """Write manifest.json (canonical JSON) and return its sha256, the bundle's digest."""
    doc = {
        "format": MANIFEST_FORMAT,
        **header,
        "schema": {name: schema_doc(s) for name, s in SCHEMAS.items()},
        "files": [f.as_dict() for f in sorted(files, key=lambda f: f.path)],
    }
    data = (json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()
    (root / MANIFEST).write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def read_manifest(root: Path) -> dict[str, Any]:
    path = root / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(f"no {MANIFEST} in {root}: not a release bundle")
    return dict(json.loads(path.read_text(encoding="utf-8")))


def verify_bundle(root: Path) -> list[str]:
    """Every problem found checking the files against the manifest; empty when all is well."""
    try:
        manifest = read_manifest(root)
    except (FileNotFoundError, json.JSONDecodeError) as exc:
        return [str(exc)]
    problems: list[str] = []
    listed = set()
    for entry in manifest.get("files", []):
        rel = entry["path"]
        listed.add(rel)
        path = root / rel
        if not path.is_file():
            problems.append(f"{rel}: missing")
            continue
        if path.stat().st_size != entry["bytes"]:
            problems.append(f"{rel}: {path.stat().st_size} bytes, manifest says {entry['bytes']}")
        if sha256_file(path) != entry["sha256"]:
            problems.append(f"{rel}: sha256 differs from the manifest")
            continue
        if entry.get("rows") is not None and path.suffix == ".parquet":
            rows = pq.ParquetFile(path).metadata.num_rows
            if rows != entry["rows"]:
                problems.append(f"{rel}: {rows} rows, manifest says {entry['rows']}")
    present = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}
    problems += [f"{rel}: not in the manifest" for rel in sorted(present - listed - {MANIFEST})]
    return problems
