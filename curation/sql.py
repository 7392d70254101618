"""Run the project's SQL files in DuckDB: one file builds one table, values go in as parameters."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"


def table_query(name: str) -> str:
    """The SELECT that builds table `name` (sql/staging/<name>.sql or sql/marts/<name>.sql)."""
    candidates = [SQL_DIR / "staging" / f"{name}.sql", SQL_DIR / "marts" / f"{name}.sql"]
    path = next((p for p in candidates if p.is_file()), None)
    if path is None:
        raise FileNotFoundError(f"no SQL file for table {name!r} under {SQL_DIR}")
    return path.read_text(encoding="utf-8")


def build_table(
    con: duckdb.DuckDBPyConnection, name: str, params: dict[str, Any] | None = None
) -> int:
    """Create table `name` from its SQL file; return its rows."""
    con.execute(f'create or replace table "{name}" as {table_query(name)}', params or {}).fetchall()
    return row_count(con, name)


def row_count(con: duckdb.DuckDBPyConnection, name: str) -> int:
    return int(con.execute(f'select count(*) from "{name}"').fetchall()[0][0])
