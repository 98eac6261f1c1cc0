"""Population stability (PSI) of each feature between the training reference and a scoring population."""

from __future__ import annotations

import numpy as np
import pandas as pd

EPS = 1e-4


def reference_bins(frame: pd.DataFrame, features: list[str], bins: int = 10) -> dict[str, dict]:
    """Per numeric feature: decile edges of the reference and the share of rows in each bin (NaN its own bin)."""
    out = {}
    for col in features:
        x = pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype=float)
        finite = x[np.isfinite(x)]
        if finite.size == 0:
            continue
        edges = np.unique(np.quantile(finite, np.linspace(0, 1, bins + 1)[1:-1]))
        out[col] = {"edges": edges.tolist(), "shares": _shares(x, edges).tolist()}
    return out


def _shares(x: np.ndarray, edges: np.ndarray) -> np.ndarray:
    finite = np.isfinite(x)
    counts = np.bincount(np.searchsorted(edges, x[finite], side="right"), minlength=len(edges) + 1).astype(float)
    counts = np.append(counts, (~finite).sum())
    return counts / max(len(x), 1)


def psi(reference: dict[str, dict], frame: pd.DataFrame) -> dict[str, float]:
    """PSI per feature: sum over bins of (p - q) ln(p / q); above 0.25 is usually read as a large shift."""
    out = {}
    for col, ref in reference.items():
        if col not in frame.columns:
            continue
        edges = np.asarray(ref["edges"])
        q = np.maximum(np.asarray(ref["shares"]), EPS)
        p = np.maximum(_shares(pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype=float), edges), EPS)
        out[col] = float(np.sum((p - q) * np.log(p / q)))
    return out
