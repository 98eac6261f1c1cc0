"""Scores from a posted purchase history: the same validation and feature code as training, then the bundle."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from features import build_features, read_transactions
from models.bundle import ModelBundle
from serving.snapshot import record


def score_history(
    bundle: ModelBundle, as_of: dt.date, transactions: list[dict], reasons: bool = True
) -> tuple[list[dict], list[str]]:
    """Prediction records of the customers with a purchase before ``as_of``, and the ids without one.
    Raises ``features.InputError`` for a history the feature code cannot use."""
    frame = pd.DataFrame(transactions, columns=["customer_id", "date", "amount"])
    ids = set(frame["customer_id"])
    feats = build_features(read_transactions(frame), as_of, bundle.feature_windows())
    if feats.empty:
        return [], sorted(ids)
    pred = bundle.predict(feats, reasons=reasons)
    cols = {c: pred[c].to_numpy() for c in pred.columns}
    rows = [record(cols, i) for i in range(len(pred))]
    return rows, sorted(ids - {r["customer_id"] for r in rows})
