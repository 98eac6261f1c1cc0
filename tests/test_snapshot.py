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


def test_the_snapshot_names_the_model_version_that_scored_it(tmp_path):
    import pytest

    from features import InputError

    scored(["a", "b"]).assign(model_version="7").to_parquet(tmp_path / "one.parquet", index=False)
    assert ScoredSnapshot.load(tmp_path / "one.parquet").model_version == "7"
    scored(["a"]).to_parquet(tmp_path / "old.parquet", index=False)  # written before versions were recorded
    assert ScoredSnapshot.load(tmp_path / "old.parquet").model_version is None
    scored(["a", "b"]).assign(model_version=["7", "8"]).to_csv(tmp_path / "mixed.csv", index=False)
    with pytest.raises(InputError, match="mixes scores of model versions 7, 8"):
        ScoredSnapshot.load(tmp_path / "mixed.csv")
