"""The scored snapshot the service answers from: ids are looked up as the text they were written as."""

from __future__ import annotations

import pandas as pd

from serving.snapshot import COLUMNS, ScoredSnapshot


def scored(ids: list[str]) -> pd.DataFrame:
    n = len(ids)
    return pd.DataFrame(
        {
            "customer_id": ids,
            "churn_probability": [0.5] * n,
            "predicted_clv": [10.0] * n,
            "clv_lower": [0.0] * n,
            "clv_upper": [20.0] * n,
            "expected_purchases": [1.0] * n,
            "next_order_date": ["2025-02-01"] * n,
            "segment": ["Champions"] * n,
            "top_reasons": ["[]"] * n,
        }
    )[COLUMNS]


def test_csv_snapshot_keeps_leading_zeros_of_ids(tmp_path):
    path = tmp_path / "scores.csv"
    scored(["007", "0420", "15"]).to_csv(path, index=False)
    snap = ScoredSnapshot.load(path)
    found, unknown = snap.rows(["007", "7", "0420", "15"])
    assert [r["customer_id"] for r in found] == ["007", "0420", "15"]
    assert unknown == ["7"]
