"""croissant.json: MLCommons Croissant 1.0 metadata for a release bundle, with the RAI fields.

Written as plain JSON-LD (no mlcroissant at run time; the tests validate it with mlcroissant and
load records through it). Every file of the bundle is a FileObject with its sha256; each table
is a FileSet (its shards) and a RecordSet whose fields read the Parquet columns.
"""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa

CONTEXT: dict[str, Any] = {
    "@language": "en",
    "@vocab": "https://schema.org/",
    "citeAs": "cr:citeAs",
    "column": "cr:column",
    "conformsTo": "dct:conformsTo",
    "cr": "http://mlcommons.org/croissant/",
    "rai": "http://mlcommons.org/croissant/RAI/",
    "data": {"@id": "cr:data", "@type": "@json"},
    "dataType": {"@id": "cr:dataType", "@type": "@vocab"},
    "dct": "http://purl.org/dc/terms/",
    "equivalentProperty": "cr:equivalentProperty",
    "examples": {"@id": "cr:examples", "@type": "@json"},
    "extract": "cr:extract",
    "field": "cr:field",
    "fileProperty": "cr:fileProperty",
    "fileObject": "cr:fileObject",
    "fileSet": "cr:fileSet",
    "format": "cr:format",
    "includes": "cr:includes",
    "isLiveDataset": "cr:isLiveDataset",
    "jsonPath": "cr:jsonPath",
    "key": "cr:key",
    "md5": "cr:md5",
    "parentField": "cr:parentField",
    "path": "cr:path",
    "recordSet": "cr:recordSet",
    "references": "cr:references",
    "regex": "cr:regex",
    "repeated": "cr:repeated",
    "replace": "cr:replace",
    "samplingRate": "cr:samplingRate",
    "sc": "https://schema.org/",
    "separator": "cr:separator",
    "source": "cr:source",
    "subField": "cr:subField",
    "transform": "cr:transform",
}
PARQUET = "application/x-parquet"
FORMATS = {
    ".parquet": PARQUET,
    ".md": "text/markdown",
    ".json": "application/json",
    ".png": "image/png",
}
TABLES = {  # record set → the files of its FileSet
    "labeled": "labeled/*.parquet",
    "unlabeled": "unlabeled/*.parquet",
    "taxonomy": "taxonomy.parquet",
    "agreement": "agreement.parquet",
}


def _data_type(t: pa.DataType) -> str:
    if pa.types.is_integer(t):
        return "sc:Integer"
    if pa.types.is_floating(t):
        return "sc:Float"
    if pa.types.is_boolean(t):
        return "sc:Boolean"
    return "sc:Text"


def croissant(
    dataset: str,
    version: str,
    description: str,
    license_name: str,
    files: list[dict[str, Any]],
    schemas: dict[str, pa.Schema],
    rai: dict[str, str],
) -> str:
    """The JSON-LD text. `files`: manifest entries (path, sha256, bytes); `schemas`: Arrow schema
    per record set in TABLES; `rai`: collection, annotation protocol, annotators per item,
    personal information, maintenance."""
    distribution: list[dict[str, Any]] = [
        {
            "@type": "cr:FileObject",
            "@id": f["path"],
            "name": f["path"],
            "contentUrl": f["path"],
            "encodingFormat": FORMATS.get(
                "." + f["path"].rsplit(".", 1)[-1], "application/octet-stream"
            ),
            "contentSize": f"{f['bytes']} B",
            "sha256": f["sha256"],
        }
        for f in files
    ]
    distribution += [
        {
            "@type": "cr:FileSet",
            "@id": f"{table}-files",
            "name": f"{table}-files",
            "encodingFormat": PARQUET,
            "includes": pattern,
        }
        for table, pattern in TABLES.items()
    ]
    record_sets = [
        {
            "@type": "cr:RecordSet",
            "@id": table,
            "name": table,
            "field": [
                {
                    "@type": "cr:Field",
                    "@id": f"{table}/{col.name}",
                    "name": col.name,
                    "dataType": _data_type(col.type),
                    "source": {
                        "fileSet": {"@id": f"{table}-files"},
                        "extract": {"column": col.name},
                    },
                }
                for col in schemas[table]
            ],
        }
        for table in TABLES
    ]
    doc = {
        "@context": CONTEXT,
        "@type": "sc:Dataset",
        "name": dataset,
        "description": description,
        "conformsTo": "http://mlcommons.org/croissant/1.0",
        "license": license_name,
        "url": "https://example.org/massiv",  # the distribution point is given on approval
        "version": version,
        "rai:dataCollection": rai["collection"],
        "rai:dataAnnotationProtocol": rai["annotation_protocol"],
        "rai:annotationsPerItem": rai["annotations_per_item"],
        "rai:personalSensitiveInformation": rai["personal_information"],
        "rai:dataReleaseMaintenancePlan": rai["maintenance"],
        "distribution": distribution,
        "recordSet": record_sets,
    }
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
