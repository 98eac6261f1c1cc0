"""Reasons behind a churn score: the features that move the whole shipped log-odds most, in words. The score is
the baseline's log-odds plus the trees' correction; the correction's part comes from LightGBM's SHAP values
(``pred_contrib``), the baseline's from exact Shapley values of its own inputs (:func:`baseline_contributions`)."""

from __future__ import annotations

from collections.abc import Callable
from itertools import product

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


# Derived inputs (the baseline's own forecasts, season, window length) are snapshot-level or restate the baseline,
# whose own inputs get its share (:data:`BASELINE_INPUTS`): none of them is a customer reason.
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


# The baseline's inputs as the customer features that carry them: repeat purchase days, first-to-last purchase
# days, and days since the last purchase (T = recency + days since last - 1).
BASELINE_INPUTS = ("frequency", "recency", "days_since_last")


def baseline_contributions(
    churn_logit: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray],
    frequency: np.ndarray,
    recency: np.ndarray,
    days_since_last: np.ndarray,
    reference: dict[str, float],
) -> np.ndarray:
    """Exact Shapley values (three players, eight evaluations) of the baseline's churn log-odds over
    :data:`BASELINE_INPUTS`, against a reference customer: column j is what input j adds, and the columns sum to
    the customer's log-odds minus the reference's. ``churn_logit(frequency, recency, T)`` is the baseline's."""
    own = [np.asarray(v, dtype=float) for v in (frequency, recency, days_since_last)]
    ref = [np.full(own[0].shape, float(reference[k])) for k in BASELINE_INPUTS]
    value = {}
    for mask in product((False, True), repeat=3):
        f, r, d = (o if m else b for o, b, m in zip(own, ref, mask, strict=True))
        value[mask] = churn_logit(f, r, r + d - 1.0)
    weight = {0: 1 / 3, 1: 1 / 6, 2: 1 / 3}  # |S|! (n - |S| - 1)! / n! for n = 3
    out = np.zeros((own[0].size, 3))
    for mask, v in value.items():
        for j in range(3):
            if not mask[j]:
                with_j = tuple(True if k == j else mask[k] for k in range(3))
                out[:, j] += weight[sum(mask)] * (value[with_j] - v)
    return out
