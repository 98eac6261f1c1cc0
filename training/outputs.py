"""Atomic output files: written to a temporary name beside the target, then renamed into place."""

from __future__ import annotations

from pathlib import Path

import ibis.expr.types as ir
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from features.io import atomic_file


def write_table(table: pa.Table | ir.Table, path: Path) -> Path:
    """Write an Arrow table or a lazy Ibis expression as Parquet or CSV (by extension) so that readers never see
    a half-written file. An expression is streamed by the engine, never held in memory whole."""
    path = Path(path)
    csv = path.suffix.lower() == ".csv"
    with atomic_file(path) as tmp:
        if isinstance(table, pa.Table):
            (pacsv.write_csv if csv else pq.write_table)(table, tmp)
        elif csv:
            table.to_csv(tmp)
        else:
            table.to_parquet(tmp)
    return path
