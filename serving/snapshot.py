"""The scored snapshot written by ``clv score``: read once with Arrow, looked up by customer id per request."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from features import InputError

COLUMNS = [
    "customer_id", "churn_probability", "predicted_clv", "clv_lower", "clv_upper",
    "expected_purchases", "next_order_date", "segment", "top_reasons",
]  # fmt: skip
MODEL_VERSION = "model_version"  # the model version that scored the snapshot (one value; absent in old snapshots)


@dataclass(frozen=True)
class ScoredSnapshot:
    """Column arrays plus an id -> row index; lookups cost a dict access per id."""

    path: str
    index: dict[str, int]
    columns: dict[str, np.ndarray]
    model_version: str | None = None

    @classmethod
    def load(cls, path: str | Path) -> ScoredSnapshot:
        path = Path(path)
        if not path.is_file():
            raise InputError(f"snapshot {path} does not exist: write it with `clv score --out {path}`")
        try:
            if path.suffix.lower() == ".csv":  # ids stay text: "007" is not 7
                options = pacsv.ConvertOptions(column_types={"customer_id": pa.string()})
                table = pacsv.read_csv(path, convert_options=options)
            else:
                table = pq.read_table(path)
        except (pa.ArrowInvalid, OSError) as exc:
            raise InputError(f"snapshot {path} is not a readable `clv score` output: {exc}") from None
        missing = [c for c in COLUMNS if c not in table.column_names]
        if missing:
            raise InputError(f"snapshot {path} lacks column(s) {', '.join(missing)}: is it a `clv score` output?")
        cols = {c: table.column(c).to_numpy(zero_copy_only=False) for c in COLUMNS}
        ids = cols["customer_id"].astype(str)
        return cls(str(path), {cid: i for i, cid in enumerate(ids)}, cols, _scored_by(table, path))

    def __len__(self) -> int:
        return len(self.index)

    def rows(self, ids: list[str]) -> tuple[list[dict], list[str]]:
        """Records of the known ids (in request order) and the unknown ids."""
        found, unknown = [], []
        for cid in ids:
            i = self.index.get(cid)
            if i is None:
                unknown.append(cid)
            else:
                found.append(record(self.columns, i))
        return found, unknown


def _scored_by(table: pa.Table, path: Path) -> str | None:
    if MODEL_VERSION not in table.column_names:
        return None
    versions = {str(v) for v in table.column(MODEL_VERSION).unique().to_pylist() if v is not None}
    if len(versions) > 1:
        raise InputError(f"snapshot {path} mixes scores of model versions {', '.join(sorted(versions))}: re-score it")
    return versions.pop() if versions else None


def record(columns: dict[str, np.ndarray], i: int) -> dict:
    """One row as JSON-ready Python values."""
    nxt = columns["next_order_date"][i]
    reasons = columns["top_reasons"][i]
    return {
        "customer_id": str(columns["customer_id"][i]),
        "churn_probability": float(columns["churn_probability"][i]),
        "predicted_clv": float(columns["predicted_clv"][i]),
        "clv_lower": float(columns["clv_lower"][i]),
        "clv_upper": float(columns["clv_upper"][i]),
        "expected_purchases": float(columns["expected_purchases"][i]),
        "next_order_date": None if nxt is None or np.isnat(np.datetime64(nxt)) else np.datetime64(nxt, "D").item(),
        "segment": str(columns["segment"][i]),
        "top_reasons": [r for r in str(reasons or "").split("; ") if r],
    }
