"""Evaluation metrics for churn probabilities and CLV predictions.

Churn metrics take ``y`` (1 = churned, 0 = stayed) and ``p`` (predicted probability of churn); CLV metrics take
``actual`` (realised spend over the horizon) and ``pred`` (predicted CLV). Every function accepts array-likes (lists,
numpy arrays, pandas Series), raises ``ValueError`` on empty input, unequal lengths or non-finite values, and returns
plain Python floats (or a DataFrame where stated).

Ranking metrics treat ties in the score at their *average*: tied rows behave as if they were in average order, so
reordering rows that tie can never change a result. Concretely

* :func:`normalized_gini` and :func:`spend_capture` read the Lorenz curve built over tie groups, within which the
  cumulative actual rises linearly (each member counts as the group's mean actual);
* :func:`decile_table` and :func:`calibration_table` assign bins by the average rank of the score, so tied rows
  always share a bin.

Sums inside a group are taken in a canonical (sorted) order, so the tie-invariance holds bit for bit, not just up
to rounding.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn import metrics as skm

ArrayLike = Sequence[float] | np.ndarray | pd.Series

LOG_LOSS_EPS = 1e-15
_PROB_TOL = 1e-9  # probabilities may overshoot [0, 1] by rounding (e.g. 1 - a + a * b); beyond this is an error

__all__ = [
    "aggregate_error",
    "brier",
    "calibration_error",
    "calibration_table",
    "churn_metrics",
    "clv_metrics",
    "decile_mape",
    "decile_table",
    "interval_coverage",
    "log_loss",
    "mae",
    "normalized_gini",
    "pr_auc",
    "rmse",
    "roc_auc",
    "spend_capture",
]


# --------------------------------------------------------------------------------------------------- validation


def _arrays(**named: ArrayLike) -> list[np.ndarray]:
    """Named inputs as 1-D float arrays; raise ValueError unless non-empty, equally long and all finite."""
    out: list[np.ndarray] = []
    for name, values in named.items():
        try:
            arr = np.asarray(values, dtype=float)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{name} must be numeric: {exc}") from exc
        if arr.ndim != 1:
            raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
        if arr.size == 0:
            raise ValueError(f"{name} is empty")
        bad = ~np.isfinite(arr)
        if bad.any():
            first = int(np.argmax(bad))
            raise ValueError(f"{name} has {int(bad.sum())} non-finite value(s) (NaN or inf), first at index {first}")
        out.append(arr)
    lengths = {name: len(arr) for name, arr in zip(named, out, strict=True)}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"inputs must have equal lengths, got {lengths}")
    return out


def _churn_arrays(y: ArrayLike, p: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Validated churn inputs: y of 0/1 as int, p clipped to [0, 1] (ValueError if clearly outside it)."""
    y_arr, p_arr = _arrays(y=y, p=p)
    if not np.isin(y_arr, (0.0, 1.0)).all():
        raise ValueError(f"y must hold only 0 and 1, got values {np.unique(y_arr)[:10].tolist()}")
    if (p_arr < -_PROB_TOL).any() or (p_arr > 1 + _PROB_TOL).any():
        raise ValueError(f"p must be probabilities in [0, 1], got range [{p_arr.min()}, {p_arr.max()}]")
    return y_arr.astype(int), np.clip(p_arr, 0.0, 1.0)


def _check_bins(name: str, value: int) -> int:
    """A bin count must be a positive integer."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


# ---------------------------------------------------------------------------------------------- tie handling


def _tie_groups(score: np.ndarray, other: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sizes and sums of ``other`` per group of equal ``score``, groups in descending score order.

    Rows are sorted by (score descending, other ascending) first, so each group sum is computed in the same order
    whatever the input order was.
    """
    order = np.lexsort((other, -score))
    s, o = score[order], other[order]
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
    sizes = np.diff(np.r_[starts, len(s)])
    sums = np.add.reduceat(o, starts)
    return sizes, sums


def _rank_bins(score: np.ndarray, n_bins: int, descending: bool) -> np.ndarray:
    """Bin 1..n_bins of each row from the average rank of ``score``: rank r of N lands in bin ceil(r * n_bins / N).

    Ties share their average rank and therefore their bin. Twice the average rank is an integer, so the arithmetic
    is exact.
    """
    n = len(score)
    key = -score if descending else score
    order = np.argsort(key, kind="stable")
    k = key[order]
    starts = np.flatnonzero(np.r_[True, k[1:] != k[:-1]])
    ends = np.r_[starts[1:], n]  # exclusive; a group at 0-based positions [s, e) holds ranks s+1..e
    twice_rank_sorted = np.repeat(starts + 1 + ends, ends - starts)  # 2 * mean(s+1..e) = s + 1 + e
    twice_rank = np.empty(n, dtype=np.int64)
    twice_rank[order] = twice_rank_sorted
    return (twice_rank * n_bins + 2 * n - 1) // (2 * n)  # ceil(2r * n_bins / 2N), in integers


def _bin_sums(bins: np.ndarray, *values: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """Occupied bin labels (ascending), their row counts, and per-bin sums of each array in a canonical order."""
    order = np.lexsort((*reversed(values), bins))  # by bin, then by the values: independent of input row order
    b = bins[order]
    starts = np.flatnonzero(np.r_[True, b[1:] != b[:-1]])
    counts = np.diff(np.r_[starts, len(b)])
    return b[starts], counts, [np.add.reduceat(v[order], starts) for v in values]


# ----------------------------------------------------------------------------------------------------- churn


def roc_auc(y: ArrayLike, p: ArrayLike) -> float:
    """Area under the ROC curve (tied scores count 1/2); nan when y holds a single class, where AUC is undefined."""
    y_arr, p_arr = _churn_arrays(y, p)
    if len(np.unique(y_arr)) < 2:
        return float("nan")
    return float(skm.roc_auc_score(y_arr, p_arr))


def pr_auc(y: ArrayLike, p: ArrayLike) -> float:
    """Average precision (area under the precision-recall curve); nan when y holds a single class."""
    y_arr, p_arr = _churn_arrays(y, p)
    if len(np.unique(y_arr)) < 2:
        return float("nan")
    return float(skm.average_precision_score(y_arr, p_arr))


def brier(y: ArrayLike, p: ArrayLike) -> float:
    """Brier score, mean of (p - y)^2: the squared-error of the probabilities, lower is better."""
    y_arr, p_arr = _churn_arrays(y, p)
    return float(skm.brier_score_loss(y_arr, p_arr, pos_label=1))


def log_loss(y: ArrayLike, p: ArrayLike) -> float:
    """Mean negative log-likelihood, with p clipped to [1e-15, 1 - 1e-15] so a confident miss stays finite."""
    y_arr, p_arr = _churn_arrays(y, p)
    clipped = np.clip(p_arr, LOG_LOSS_EPS, 1 - LOG_LOSS_EPS)
    return float(skm.log_loss(y_arr, clipped, labels=[0, 1]))


def calibration_table(y: ArrayLike, p: ArrayLike, bins: int = 10) -> pd.DataFrame:
    """Reliability table over equal-count bins of p (bin 1 = lowest p): rows, mean predicted and observed churn rate.

    Bins come from the average rank of p, so tied probabilities share a bin; only occupied bins are listed (fewer
    rows than ``bins`` when there are fewer rows than bins or heavy ties).
    """
    bins = _check_bins("bins", bins)
    y_arr, p_arr = _churn_arrays(y, p)
    labels, counts, (sum_p, sum_y) = _bin_sums(_rank_bins(p_arr, bins, descending=False), p_arr, y_arr.astype(float))
    return pd.DataFrame(
        {
            "bin": labels.astype(int),
            "n": counts.astype(int),
            "mean_predicted": sum_p / counts,
            "observed_rate": sum_y / counts,
        }
    )


def calibration_error(y: ArrayLike, p: ArrayLike, bins: int = 10) -> float:
    """Expected calibration error over equal-count bins: sum of (bin size / n) * |mean(p) - mean(y)|."""
    table = calibration_table(y, p, bins)
    weights = table["n"].to_numpy() / table["n"].sum()
    gaps = np.abs(table["mean_predicted"].to_numpy() - table["observed_rate"].to_numpy())
    return float(np.sum(weights * gaps))


# ------------------------------------------------------------------------------------------------------- CLV


def rmse(actual: ArrayLike, pred: ArrayLike) -> float:
    """Root mean squared error: penalises large misses, in currency units."""
    a, q = _arrays(actual=actual, pred=pred)
    return float(np.sqrt(skm.mean_squared_error(a, q)))


def mae(actual: ArrayLike, pred: ArrayLike) -> float:
    """Mean absolute error, in currency units."""
    a, q = _arrays(actual=actual, pred=pred)
    return float(skm.mean_absolute_error(a, q))


def _lorenz_gini(sizes: np.ndarray, sums: np.ndarray) -> float:
    """Gini of a Lorenz curve given by tie groups in rank order: area under the curve minus 1/2 (nan if total 0).

    Within a group the cumulative share rises linearly, so each group adds width * (start + end) / 2.
    """
    cum = np.cumsum(sums)
    total = cum[-1]
    if total == 0:
        return float("nan")
    share = cum / total
    prev = np.r_[0.0, share[:-1]]
    width = sizes / sizes.sum()
    return float(np.sum(width * (prev + share) / 2) - 0.5)


def normalized_gini(actual: ArrayLike, pred: ArrayLike) -> float:
    """Gini of actual ordered by pred over Gini of actual ordered by actual: 1 = perfect ranking, 0 = no better than
    random (e.g. a constant prediction); ties in pred count at their average order. nan if either Gini is undefined
    or zero (total actual 0, or all actuals equal)."""
    a, q = _arrays(actual=actual, pred=pred)
    model = _lorenz_gini(*_tie_groups(q, a))
    best = _lorenz_gini(*_tie_groups(a, a))
    if math.isnan(model) or math.isnan(best) or best == 0:
        return float("nan")
    return float(model / best)


def spend_capture(actual: ArrayLike, pred: ArrayLike, top: float = 0.10) -> float:
    """Share of total actual spend held by the top ``top`` fraction of customers ranked by pred (descending).

    The cut takes ``top * n`` slots; the tie group straddling the cut contributes its mean actual per slot it fills,
    so tied rows count at their average. A fractional ``top * n`` fills that fraction of a slot (the Lorenz curve read
    at ``top``). nan if total actual is 0.
    """
    if not 0 < top <= 1:
        raise ValueError(f"top must be in (0, 1], got {top!r}")
    a, q = _arrays(actual=actual, pred=pred)
    sizes, sums = _tie_groups(q, a)
    cum_sums = np.cumsum(sums)
    total = cum_sums[-1]
    if total == 0:
        return float("nan")
    slots = top * len(a)
    if abs(slots - round(slots)) < 1e-9:  # 0.1 * 30 is 3.0000000000000004, not a fraction of a slot
        slots = float(round(slots))
    cum_sizes = np.cumsum(sizes)
    j = int(np.searchsorted(cum_sizes, slots, side="right"))  # first group not wholly inside the cut
    if j >= len(sizes):
        return float(cum_sums[-1] / total)
    before_sum = cum_sums[j - 1] if j > 0 else 0.0
    before_size = cum_sizes[j - 1] if j > 0 else 0
    captured = before_sum + (slots - before_size) * sums[j] / sizes[j]
    return float(captured / total)


def decile_table(actual: ArrayLike, pred: ArrayLike, n: int = 10) -> pd.DataFrame:
    """Customers in ``n`` equal-count groups by pred (1 = highest): counts, mean and sum of predicted and actual.

    A customer of average descending rank r among N goes to decile ceil(r * n / N), so tied predictions share a
    decile; only occupied deciles are listed (fewer than ``n`` rows when N < n or under heavy ties).
    """
    n = _check_bins("n", n)
    a, q = _arrays(actual=actual, pred=pred)
    labels, counts, (sum_q, sum_a) = _bin_sums(_rank_bins(q, n, descending=True), q, a)
    return pd.DataFrame(
        {
            "decile": labels.astype(int),
            "customers": counts.astype(int),
            "mean_predicted": sum_q / counts,
            "mean_actual": sum_a / counts,
            "sum_predicted": sum_q,
            "sum_actual": sum_a,
        }
    )


def decile_mape(actual: ArrayLike, pred: ArrayLike, n: int = 10) -> float:
    """Weighted decile error: sum over deciles of |mean_pred - mean_actual| over sum of |mean_actual|.

    It measures the calibration of the CLV level across the ranking. Every decile counts, including those whose
    mean actual is 0 (a mean of per-decile ratios has to skip them, so two predictors would be averaged over
    different deciles). With non-negative actuals in equal-count deciles the denominator is total actual / decile
    size whatever the ranking, so two predictors on the same customers compare directly. nan only when every
    decile's mean actual is 0.
    """
    table = decile_table(actual, pred, n)
    mean_actual = table["mean_actual"].to_numpy()
    scale = float(np.sum(np.abs(mean_actual)))
    if scale == 0:
        return float("nan")
    return float(np.sum(np.abs(table["mean_predicted"].to_numpy() - mean_actual)) / scale)


def aggregate_error(actual: ArrayLike, pred: ArrayLike) -> float:
    """sum(pred) / sum(actual) - 1: the relative bias of the total predicted value; nan if sum(actual) is 0."""
    a, q = _arrays(actual=actual, pred=pred)
    total = a.sum()
    if total == 0:
        return float("nan")
    return float(q.sum() / total - 1)


def interval_coverage(actual: ArrayLike, lower: ArrayLike, upper: ArrayLike) -> float:
    """Share of customers with lower <= actual <= upper: how often the prediction interval holds the truth."""
    a, lo, hi = _arrays(actual=actual, lower=lower, upper=upper)
    return float(np.mean((lo <= a) & (a <= hi)))


# ----------------------------------------------------------------------------------------------- summaries


def churn_metrics(y: ArrayLike, p: ArrayLike) -> dict[str, float]:
    """All churn metrics at once, with stable keys (for logging and run comparison)."""
    return {
        "roc_auc": roc_auc(y, p),
        "pr_auc": pr_auc(y, p),
        "brier": brier(y, p),
        "log_loss": log_loss(y, p),
        "calibration_error": calibration_error(y, p),
    }


def clv_metrics(
    actual: ArrayLike, pred: ArrayLike, lower: ArrayLike | None = None, upper: ArrayLike | None = None
) -> dict[str, float]:
    """All CLV metrics at once, with stable keys; ``interval_coverage`` only when both bounds are given."""
    if (lower is None) != (upper is None):
        raise ValueError("give both lower and upper, or neither")
    out = {
        "rmse": rmse(actual, pred),
        "mae": mae(actual, pred),
        "gini": normalized_gini(actual, pred),
        "top10_capture": spend_capture(actual, pred, top=0.10),
        "top20_capture": spend_capture(actual, pred, top=0.20),
        "decile_mape": decile_mape(actual, pred),
        "aggregate_error": aggregate_error(actual, pred),
    }
    if lower is not None and upper is not None:
        out["interval_coverage"] = interval_coverage(actual, lower, upper)
    return out
