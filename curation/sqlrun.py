"""Run the project's SQL files in DuckDB: one file builds one table, values go in as parameters."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"


def build_table(
    con: duckdb.DuckDBPyConnection, name: str, params: dict[str, Any] | None = None
) -> int:
    """Create table `name` from sql/staging/<name>.sql or sql/marts/<name>.sql; return its rows."""
    candidates = [SQL_DIR / "staging" / f"{name}.sql", SQL_DIR / "marts" / f"{name}.sql"]
    path = next((p for p in candidates if p.is_file()), None)
    if path is None:
        raise FileNotFoundError(f"no SQL file for table {name!r} under {SQL_DIR}")
    query = path.read_text(encoding="utf-8")
    con.execute(f'create or replace table "{name}" as {query}', params or {}).fetchall()
    return int(con.execute(f'select count(*) from "{name}"').fetchall()[0][0])
