"""Promotion rule: on its latest backtest window the challenger must not be worse than the baseline, nor the champion if
any, beyond noise on any metric of models.compare (95 % paired bootstrap interval wholly on the worse side of 0)."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from models.compare import TIE, Contender, compare

__all__ = ["BASE_COLUMNS", "CHAMPION_COLUMNS", "HIGHER_IS_BETTER", "Verdict", "judge", "metric_verdicts", "summary"]

BASE_COLUMNS = ("churned", "future_spend", "challenger_churn", "challenger_clv", "baseline_churn", "baseline_clv")
CHAMPION_COLUMNS = ("champion_churn", "champion_clv")


@dataclass(frozen=True)
class Verdict:
    """Whether to promote, the comparison it rests on (rows of models.compare.compare) and a sentence saying why."""

    promote: bool
    comparison: pd.DataFrame
    reason: str


def _check_frame(frame: pd.DataFrame, has_champion: bool) -> None:
    """Raise ValueError if the frame is empty or lacks a column the judgement needs."""
    needed = BASE_COLUMNS + (CHAMPION_COLUMNS if has_champion else ())
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise ValueError(f"the backtest frame lacks column(s) {missing}")
    if frame.empty:
        raise ValueError("the backtest frame has no rows")


def _contender(frame: pd.DataFrame, name: str) -> Contender:
    """The predictions of ``name`` (challenger, baseline or champion) from its two columns of the frame."""
    return Contender(name, frame[f"{name}_churn"].to_numpy(dtype=float), frame[f"{name}_clv"].to_numpy(dtype=float))


def _failures(comparison: pd.DataFrame) -> str:
    """'worse than the baseline beyond noise on a, b; worse than the champion beyond noise on c' ('' if none)."""
    worse = comparison[comparison["worse"]]
    return "; ".join(
        f"worse than the {other} beyond noise on {', '.join(rows['metric'])}"
        for other, rows in worse.groupby("other", sort=False)
    )


def _skipped(comparison: pd.DataFrame) -> list[str]:
    """Metrics whose interval is undefined on this window against some other (reported, never blocking)."""
    undefined = comparison[comparison[["lo", "hi"]].isna().any(axis=1)]
    return list(dict.fromkeys(undefined["metric"]))


def _reason(comparison: pd.DataFrame, has_champion: bool) -> str:
    """The sentence of the verdict: the failing metrics and against whom, and the metrics left unjudged."""
    reason = _failures(comparison)
    if not reason:
        reason = "not worse than the baseline or the champion on any metric"
        if not has_champion:
            reason = "not worse than the baseline on any metric (no champion yet)"
    skipped = _skipped(comparison)
    if skipped:
        reason += f"; {', '.join(skipped)} undefined on this window, not judged"
    return reason


def judge(frame: pd.DataFrame, has_champion: bool, n_boot: int = 200, seed: int = 0) -> Verdict:
    """Judge the challenger on one backtest window against the baseline and, if there is one, the champion.

    ``frame`` has one row per customer of the window with :data:`BASE_COLUMNS` (and :data:`CHAMPION_COLUMNS` when
    ``has_champion``). A metric undefined on the window (e.g. ROC AUC when nobody churned) has nan values and
    interval, is named in the reason and does not block. Non-finite predictions raise ValueError.
    """
    _check_frame(frame, has_champion)
    names = ["baseline", "champion"] if has_champion else ["baseline"]
    comparison = compare(
        frame["churned"].to_numpy(dtype=float),
        frame["future_spend"].to_numpy(dtype=float),
        _contender(frame, "challenger"),
        [_contender(frame, name) for name in names],
        n_boot=n_boot,
        seed=seed,
    )
    return Verdict(not comparison["worse"].any(), comparison, _reason(comparison, has_champion))


# The better direction of each backtest metric (train.evaluate's keys); the aggregate error is judged by its size.
HIGHER_IS_BETTER = {
    "roc_auc": True, "pr_auc": True, "gini": True, "top10_capture": True, "top20_capture": True,
    "brier": False, "log_loss": False, "calibration_error": False, "rmse": False, "mae": False,
    "decile_mape": False, "aggregate_error": False, "purchases_mae": False,
}  # fmt: skip
BOOTSTRAPPED = {"roc_auc": "roc_auc", "brier": "brier", "gini": "gini", "aggregate_error": "abs_aggregate_error"}
VERDICTS = ("better", "worse", "tie", "ahead", "behind", "undefined")
BY_INTERVAL = "95 % paired bootstrap interval of model - baseline: better or worse when wholly on that side of 0"
BY_POINT = "point estimates in the metric's better direction: ahead / behind, no interval, not beyond noise"


def point_verdict(metric: str, model: float, baseline: float) -> str:
    """'ahead' / 'behind' / 'tie' by the point estimates alone, in the metric's better direction (no interval, so
    no claim beyond noise); 'undefined' when either is missing."""
    if metric == "aggregate_error":
        model, baseline = abs(model), abs(baseline)
    if model != model or baseline != baseline:
        return "undefined"
    diff = model - baseline
    if abs(diff) <= TIE:
        return "tie"
    return "ahead" if (diff > 0) == HIGHER_IS_BETTER[metric] else "behind"


def interval_verdict(row) -> str:
    """'better' / 'worse' beyond noise (the whole interval of the difference on that side of 0), 'tie' within
    noise, 'undefined' without an interval; for one row of a :func:`judge` comparison."""
    if row.lo != row.lo or row.hi != row.hi:
        return "undefined"
    if row.worse:
        return "worse"
    better = row.lo > TIE if row.higher_is_better else row.hi < -TIE
    return "better" if better else "tie"


def metric_verdicts(metrics: dict[str, float], comparison: pd.DataFrame | None = None) -> dict[str, tuple[str, str]]:
    """Per backtest metric, what ships against the BTYD baseline: (better | worse | tie | undefined, how it was
    judged). Metrics with a row against the baseline in ``comparison`` (a :func:`judge` comparison) are judged
    beyond noise on its bootstrap interval; the others on the point estimates, in each metric's better direction."""
    rows = {}
    if comparison is not None:
        rows = {r.metric: r for r in comparison[comparison["other"] == "baseline"].itertuples(index=False)}
    out = {}
    for metric in HIGHER_IS_BETTER:
        if f"model.{metric}" not in metrics or f"baseline.{metric}" not in metrics:
            continue
        row = rows.get(BOOTSTRAPPED.get(metric, ""))
        if row is not None:
            out[metric] = (interval_verdict(row), BY_INTERVAL)
        else:
            out[metric] = (point_verdict(metric, metrics[f"model.{metric}"], metrics[f"baseline.{metric}"]), BY_POINT)
    return out


NAMES = {"roc_auc": "churn AUC", "brier": "churn Brier", "gini": "CLV Gini", "aggregate_error": "CLV aggregate error"}


def summary(metrics: dict[str, float], verdicts: dict[str, tuple[str, str]]) -> str:
    """One line: where what ships beats the BTYD baseline beyond noise, where it is worse, and how the metrics
    without an interval lean."""
    by = {v: [m for m, (verdict, _) in verdicts.items() if verdict == v] for v in VERDICTS}
    judged = [m for m, (_, how) in verdicts.items() if how == BY_INTERVAL]
    headline = ", ".join(
        f"{NAMES[m]} {metrics[f'model.{m}']:.3g} vs {metrics[f'baseline.{m}']:.3g}"
        for m in NAMES
        if f"model.{m}" in metrics
    )
    leaning = len(verdicts) - len(judged)
    return (
        f"beats the BTYD baseline beyond noise on {len(by['better'])} of {len(judged)} bootstrapped metrics "
        f"({headline}); worse on: {', '.join(by['worse']) or 'none'}; of {leaning} more by point estimate, ahead "
        f"on {len(by['ahead'])}, behind on {len(by['behind'])}"
    )
