"""The label taxonomies (concept, affect, audio type, video type, language), loaded from data."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import polars as pl
import yaml

TAXONOMY_PATH = Path(__file__).parent / "data" / "taxonomy.yaml"
# Annotators label four content taxonomies and confirm the language (platform tags can be wrong).
ANNOTATED_TASKS = ("concept", "affect", "audio_type", "video_type", "language")


@cache
def load_taxonomy(path: Path = TAXONOMY_PATH) -> dict[str, list[str]]:
    """Map each taxonomy name to its labels, in file order."""
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    return {
        name: [entry["label"] for entry in entries] for name, entries in doc["taxonomies"].items()
    }


def taxonomy_version(path: Path = TAXONOMY_PATH) -> str:
    return str(yaml.safe_load(path.read_text(encoding="utf-8"))["version"])


def languages() -> list[str]:
    return load_taxonomy()["language"]


def taxonomy_table(path: Path = TAXONOMY_PATH) -> pl.DataFrame:
    """The taxonomy as a table (taxonomy, label_id, label, source, name) for the release bundle."""
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    rows = [
        {
            "taxonomy": name,
            "label_id": i,
            "label": entry["label"],
            "name": entry.get("name", entry["label"].replace("_", " ")),
            "source": entry["source"],
        }
        for name, entries in doc["taxonomies"].items()
        for i, entry in enumerate(entries)
    ]
    return pl.DataFrame(
        rows,
        schema={
            "taxonomy": pl.String,
            "label_id": pl.Int32,
            "label": pl.String,
            "name": pl.String,
            "source": pl.String,
        },
    )
