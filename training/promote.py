"""The promotion rule: the challenger becomes champion only if its backtest is not worse."""

from __future__ import annotations

from dataclasses import dataclass

# (metric, higher is better, tolerance): the challenger may trail the champion by at most the tolerance.
RULE: tuple[tuple[str, bool, float], ...] = (
    ("model.roc_auc", True, 0.005),
    ("model.gini", True, 0.005),
    ("model.brier", False, 0.002),
)


@dataclass(frozen=True)
class Verdict:
    promote: bool
    rows: list[tuple[str, float | None, float | None, bool]]  # metric, challenger, champion, passes
    reason: str


def judge(challenger: dict[str, float], champion: dict[str, float] | None) -> Verdict:
    """Compare backtest metrics by :data:`RULE`; no champion yet means promote."""
    if not champion:
        rows = [(m, challenger.get(m), None, True) for m, _, _ in RULE]
        return Verdict(True, rows, "no champion yet")
    rows = []
    for metric, higher, tol in RULE:
        new, old = challenger.get(metric), champion.get(metric)
        if new is None or old is None:
            ok = new is not None
        else:
            ok = new >= old - tol if higher else new <= old + tol
        rows.append((metric, new, old, ok))
    failed = [m for m, _, _, ok in rows if not ok]
    return Verdict(not failed, rows, "worse on " + ", ".join(failed) if failed else "not worse on any metric")
