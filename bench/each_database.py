"""Run one benchmark on a fresh SQLite file and in a fresh Postgres schema (dropped after), as
the gateway benchmarks do."""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Callable

import psycopg

POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"


def run_on_each(only: str | None, postgres: str, run: Callable[[str, str], None]) -> None:
    """``run(url, label)`` on SQLite unless ``only`` is "postgres", then on Postgres unless it
    is "sqlite"."""
    if only != "postgres":
        with tempfile.TemporaryDirectory() as tmp:
            run(f"sqlite:///{tmp}/bench.sqlite3", "sqlite")
    if only != "sqlite":
        schema = f"bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(postgres, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
        try:
            run(f"{postgres}?options=-csearch_path%3D{schema}", "postgres")
        finally:
            with psycopg.connect(postgres, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
