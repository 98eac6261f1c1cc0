"""Paired comparison of two predictors on the same customers, with bootstrap intervals of the difference.

Both predictors are scored on the same resampled rows, so the noise of the sample cancels in the difference and the
interval says whether one is worse *beyond noise*: the whole interval lies on the worse side of 0.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd

from models.metrics import ArrayLike, aggregate_error, brier, normalized_gini, roc_auc

__all__ = ["COLUMNS", "LEVEL", "METRICS", "Contender", "abs_aggregate_error", "compare", "paired_bootstrap"]

Metric = Callable[[np.ndarray, np.ndarray], float]

LEVEL = 0.95  # of the intervals in compare()
COLUMNS = ["metric", "other", "higher_is_better", "challenger_value", "other_value", "diff", "lo", "hi", "worse"]
_MAX_DRAW = 4_000_000  # row indices drawn at once: bounds the memory of a draw on large samples


def abs_aggregate_error(actual: ArrayLike, pred: ArrayLike) -> float:
    """|sum(pred) / sum(actual) - 1|: the size of the bias of the total, whichever its sign (nan if sum actual 0)."""
    return abs(aggregate_error(actual, pred))


# name -> (function, higher is better, scores the churn column (else the CLV column))
METRICS: dict[str, tuple[Metric, bool, bool]] = {
    "roc_auc": (roc_auc, True, True),
    "brier": (brier, False, True),
    "gini": (normalized_gini, True, False),
    "abs_aggregate_error": (abs_aggregate_error, False, False),
}


@dataclass(frozen=True)
class Contender:
    """A predictor's output on the compared customers: churn probabilities and CLV, in the same row order."""

    name: str
    churn: np.ndarray
    clv: np.ndarray


def _defined(metric: Metric, actual: np.ndarray, pred: np.ndarray) -> float:
    """The metric, or nan where it is undefined on these rows (it raises ValueError or returns nan)."""
    try:
        return float(metric(actual, pred))
    except ValueError:
        return float("nan")


def _resamples(n_rows: int, n_boot: int, seed: int) -> Iterator[np.ndarray]:
    """The row indices of n_boot resamples with replacement, drawn a block at a time so memory stays bounded."""
    rng = np.random.default_rng(seed)
    per_block = max(1, _MAX_DRAW // n_rows)
    for start in range(0, n_boot, per_block):
        yield from rng.integers(0, n_rows, size=(min(per_block, n_boot - start), n_rows))


def _on_resamples(metric: Metric, actual: np.ndarray, pred: np.ndarray, n_boot: int, seed: int) -> np.ndarray:
    """The metric on each resample of rows (nan where undefined); the same seed gives the same rows to every pred."""
    return np.array([_defined(metric, actual[idx], pred[idx]) for idx in _resamples(len(actual), n_boot, seed)])


def _interval(diffs: np.ndarray, level: float) -> tuple[float, float]:
    """Central percentile interval of the defined resampled differences; (nan, nan) when none is defined."""
    kept = diffs[~np.isnan(diffs)]
    if kept.size == 0:
        return float("nan"), float("nan")
    tail = (1 - level) / 2 * 100
    lo, hi = np.percentile(kept, [tail, 100 - tail])
    return float(lo), float(hi)


def _check(n_boot: int, level: float, *arrays: np.ndarray) -> None:
    """Raise ValueError unless n_boot is a positive integer, level in (0, 1) and arrays non-empty and equally long."""
    if isinstance(n_boot, bool) or not isinstance(n_boot, int | np.integer) or n_boot < 1:
        raise ValueError(f"n_boot must be a positive integer, got {n_boot!r}")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    lengths = [len(a) for a in arrays]
    if min(lengths) == 0 or len(set(lengths)) > 1:
        raise ValueError(f"inputs must be non-empty and equally long, got lengths {lengths}")


def paired_bootstrap(
    metric: Metric,
    actual: ArrayLike,
    pred_a: ArrayLike,
    pred_b: ArrayLike,
    n_boot: int = 200,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[float, float, float]:
    """metric(a) - metric(b) on all rows and its percentile interval over resamples of rows shared by a and b.

    Resamples where either metric is undefined (ValueError or nan, e.g. ROC AUC on one class) are skipped; the
    interval is (nan, nan) when none is left, and everything is nan when the difference is undefined on all rows.
    Errors on all rows (e.g. non-finite values) propagate.
    """
    y, a, b = (np.asarray(v) for v in (actual, pred_a, pred_b))
    _check(n_boot, level, y, a, b)
    diff = float(metric(y, a)) - float(metric(y, b))
    if math.isnan(diff):
        return float("nan"), float("nan"), float("nan")
    lo, hi = _interval(_on_resamples(metric, y, a, n_boot, seed) - _on_resamples(metric, y, b, n_boot, seed), level)
    return diff, lo, hi


TIE = 1e-9  # differences this small are rounding (e.g. probabilities clipped at 0.001), not a difference


def _is_worse(higher_is_better: bool, lo: float, hi: float) -> bool:
    """Worse beyond noise: the whole interval of challenger - other lies on the worse side of 0, by more than
    rounding (never if nan)."""
    return bool(hi < -TIE) if higher_is_better else bool(lo > TIE)


def _versus(
    metric: Metric,
    actual: np.ndarray,
    mine_value: float,
    mine_resampled: np.ndarray | None,
    theirs: np.ndarray,
    seed: int,
) -> tuple[float, float, float, float]:
    """(their value, mine - theirs, lo, hi), reusing the challenger's values on the same resamples (same seed).

    ``mine_resampled`` is None only when ``mine_value`` is nan, where the difference is nan anyway.
    """
    theirs_value = float(metric(actual, theirs))
    diff = mine_value - theirs_value
    if math.isnan(diff) or mine_resampled is None:
        return theirs_value, float("nan"), float("nan"), float("nan")
    theirs_resampled = _on_resamples(metric, actual, theirs, len(mine_resampled), seed)
    return theirs_value, diff, *_interval(mine_resampled - theirs_resampled, LEVEL)


def compare(
    y_churned: ArrayLike,
    actual_spend: ArrayLike,
    challenger: Contender,
    others: list[Contender],
    n_boot: int = 200,
    seed: int = 0,
) -> pd.DataFrame:
    """One row per (metric, other): both values, challenger - other with its paired bootstrap interval, and worse.

    Columns are :data:`COLUMNS`; intervals are at :data:`LEVEL`. A metric undefined on the rows has nan values and
    an interval of nan, and is never worse.
    """
    y, spend = np.asarray(y_churned), np.asarray(actual_spend)
    contenders = [challenger, *others]
    _check(
        n_boot, LEVEL, y, spend, *(np.asarray(c.churn) for c in contenders), *(np.asarray(c.clv) for c in contenders)
    )
    rows: list[list[object]] = []
    for name, (metric, higher, on_churn) in METRICS.items():
        actual = y if on_churn else spend
        mine = np.asarray(challenger.churn if on_churn else challenger.clv)
        mine_value = float(metric(actual, mine))
        mine_resampled = _on_resamples(metric, actual, mine, n_boot, seed) if not math.isnan(mine_value) else None
        for other in others:
            theirs = np.asarray(other.churn if on_churn else other.clv)
            theirs_value, diff, lo, hi = _versus(metric, actual, mine_value, mine_resampled, theirs, seed)
            worse = _is_worse(higher, lo, hi)
            rows.append([name, other.name, higher, mine_value, theirs_value, diff, lo, hi, worse])
    return pd.DataFrame(rows, columns=COLUMNS)
