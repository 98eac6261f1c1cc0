"""Reasons behind a churn score: the top features by absolute SHAP value (LightGBM ``pred_contrib``), in words."""

from __future__ import annotations

import numpy as np

READABLE = {
    "frequency": "repeat purchase days",
    "recency": "days from first to last purchase",
    "T": "customer age in days",
    "monetary_value": "average repeat spend",
    "purchase_days": "purchase days",
    "total_spend": "total net spend",
    "orders": "orders",
    "max_order_value": "largest order",
    "gap_std": "irregularity of purchase gaps",
    "gap_mean": "average days between purchases",
    "active_months": "months with a purchase",
    "days_since_last": "days since last purchase",
    "tenure_days": "tenure in days",
    "spend_trend": "spend trend (recent vs prior)",
    "avg_order_value": "average order value",
    "returns_share": "share of spend returned",
    "r_score": "recency score",
    "f_score": "frequency score",
    "m_score": "monetary score",
    "rfm_segment": "RFM segment",
    "horizon_days": "horizon length",
    "btyd_p_alive": "baseline P(alive)",
    "btyd_expected_purchases": "baseline expected purchases",
    "btyd_expected_value": "baseline expected value",
    "btyd_prob_no_purchase": "baseline P(no purchase)",
}


def readable(name: str) -> str:
    """A feature name as a marketer would read it (``purchases_90d`` -> ``purchases in last 90 days``)."""
    if name in READABLE:
        return READABLE[name]
    for prefix, words in (("purchases_", "purchases in last"), ("spend_", "spend in last")):
        if name.startswith(prefix) and name.endswith("d"):
            return f"{words} {name[len(prefix) : -1]} days"
    return name.replace("_", " ")


# Derived inputs (the baseline's own forecasts, season, horizon) explain nothing a marketer can act on.
NOT_REASONS = ("btyd_", "season_", "horizon_days")


def top_reasons(contrib: np.ndarray, features: list[str], k: int = 3) -> np.ndarray:
    """Per row, the ``k`` customer features that move the churn score most, e.g. ``days since last purchase
    (raises churn risk)``, joined by ``; ``. ``contrib`` is ``pred_contrib`` output: one column per feature, then
    the bias. Derived inputs (:data:`NOT_REASONS`) are left out."""
    keep = [i for i, f in enumerate(features) if not f.startswith(NOT_REASONS)]
    features = [features[i] for i in keep]
    values = np.asarray(contrib)[:, keep]
    k = min(k, len(features))
    top = np.argsort(-np.abs(values), axis=1, kind="stable")[:, :k]
    names = np.array([readable(f) for f in features], dtype=object)
    signs = np.take_along_axis(values, top, axis=1)
    parts = [
        names[top[:, j]] + np.where(signs[:, j] > 0, " (raises churn risk)", " (lowers churn risk)") for j in range(k)
    ]
    out = parts[0]
    for part in parts[1:]:
        out = out + "; " + part
    return out
