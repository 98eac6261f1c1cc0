"""Atomic output files: written to a temporary name beside the target, then renamed into place."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import ibis.expr.types as ir
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq


def write_table(table: pa.Table | ir.Table, path: Path) -> Path:
    """Write an Arrow table or a lazy Ibis expression as Parquet or CSV (by extension) so that readers never see
    a half-written file. An expression is streamed by the engine, never held in memory whole."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    csv = path.suffix.lower() == ".csv"
    try:
        if isinstance(table, pa.Table):
            (pacsv.write_csv if csv else pq.write_table)(table, tmp)
        elif csv:
            table.to_csv(tmp)
        else:
            table.to_parquet(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; a finished output gets ordinary permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
