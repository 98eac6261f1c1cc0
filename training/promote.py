"""Promotion rule: on its latest backtest window the challenger must not be worse than the baseline, nor the champion if
any, beyond noise on any metric of models.compare (95 % paired bootstrap interval wholly on the worse side of 0)."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from models.compare import Contender, compare

__all__ = ["BASE_COLUMNS", "CHAMPION_COLUMNS", "Verdict", "judge"]

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
