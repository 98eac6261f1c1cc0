"""From feature frames to the numeric matrix the boosters read: which columns, in which order."""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.rfm import SEGMENT_RULES

# Identifiers, dates and labels are never model inputs.
NOT_FEATURES = frozenset(
    {
        "customer_id",
        "snapshot",
        "first_purchase",
        "last_purchase",
        "churned",
        "future_purchases",
        "future_spend",
        "future_margin",
        "total_margin",
        "margin_365d",
    }
)
SEGMENT_CODES = {name: float(i) for i, (name, _, _) in enumerate(SEGMENT_RULES)}


def feature_columns(frame: pd.DataFrame) -> list[str]:
    """The model inputs present in ``frame``: numeric columns and the RFM segment, labels and ids excluded."""
    cols = [c for c in frame.columns if c not in NOT_FEATURES and not c.startswith("_")]
    return [c for c in cols if c == "rfm_segment" or pd.api.types.is_numeric_dtype(frame[c])]


def to_matrix(frame: pd.DataFrame, features: list[str]) -> np.ndarray:
    """A float64 matrix of ``features`` (NaN where missing); the segment becomes its rule index."""
    missing = [c for c in features if c not in frame.columns]
    if missing:
        raise KeyError(f"feature frame lacks column(s): {', '.join(missing)}")
    out = np.empty((len(frame), len(features)), dtype=np.float64)
    for j, col in enumerate(features):
        if col == "rfm_segment":
            out[:, j] = frame[col].map(SEGMENT_CODES).astype("float64").to_numpy()
        else:
            out[:, j] = pd.to_numeric(frame[col], errors="coerce").astype("float64").to_numpy()
    return out
