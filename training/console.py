"""Rich tables the CLI prints: run summaries a data scientist reads at a glance."""

from __future__ import annotations

import pandas as pd
from rich import box
from rich.console import Console
from rich.table import Table

from models.blend import Choice


def backtest(console: Console, metrics: dict[str, float]) -> None:
    """What ships vs the BTYD baseline on the out-of-time backtest."""
    from training.report import comparison_table

    table = Table(
        title=f"backtest ({int(metrics.get('backtest.customers', 0)):,} customers, "
        f"{int(metrics.get('backtest.window_days', 0))}-day window, "
        f"churn rate {metrics.get('backtest.churn_rate', float('nan')):.1%})"
    )
    for col in ("metric", "shipped", "BTYD baseline", "lift"):
        table.add_column(col, justify="left" if col == "metric" else "right")
    for row in comparison_table(metrics).itertuples(index=False):
        table.add_row(row.metric, *(_fmt(v) for v in (row[1], row[2], row[3])))
    console.print(table)


def _fmt(value) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return ""
    return f"{value:.4f}"


SHORT = {"roc_auc": "AUC", "brier": "Brier", "gini": "Gini", "abs_aggregate_error": "|agg err|"}


def promotion(console: Console, verdict, challenger: str, champion: str | None, window: int) -> None:
    """The promotion comparison: each metric of the challenger (new) against the baseline and the champion, with
    the 95 % interval of the difference."""
    console.print(
        f"[bold]challenger v{challenger}[/] on its {window}-day backtest window (95 % paired bootstrap intervals; "
        "worse = the whole interval on the worse side)",
        soft_wrap=True,
    )
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, collapse_padding=True)
    for col in ("metric", "vs", "new", "other", "diff", "95 % interval", "worse"):  # fits 80 columns
        table.add_column(col, justify="left" if col in ("metric", "vs") else "right", no_wrap=True, min_width=len(col))
    for r in verdict.comparison.itertuples(index=False):
        other = f"champion v{champion}" if r.other == "champion" else "BTYD"
        ci = f"[{r.lo:+.4f}, {r.hi:+.4f}]" if r.lo == r.lo else "undefined"
        worse = "[red]yes[/]" if r.worse else "no"
        diff = f"{r.diff:+.4f}" if r.diff == r.diff else ""
        values = _fmt(r.challenger_value), _fmt(r.other_value), diff, ci, worse
        table.add_row(SHORT.get(r.metric, r.metric), other, *values)
    console.print(table)


def choices(console: Console, fit) -> None:
    """What ships for each output (model, baseline or blend) and the validation scores it was chosen on."""
    if fit.baseline_only:
        console.print(f"[bold yellow]the BTYD baseline ships alone[/]: {fit.baseline_only}")
        return
    table = Table(
        title=f"what ships (chosen on {fit.validation_window_days}-day validation window from {fit.validation_cutoff})"
    )
    for col in ("output", "ships", "weight", "loss: model", "baseline", "shipped"):
        table.add_column(col, justify="left" if col in ("output", "ships") else "right")
    names = {"churn": "churn", "clv": "CLV", "purchases": "purchases"}
    for key, recorded in fit.choices.items():
        c = Choice.from_dict(recorded)
        table.add_row(
            names[key], c.name, f"{c.weight:.1f}", *(_fmt(c.scores.get(k)) for k in ("model", "baseline", "chosen"))
        )
    console.print(table)
    console.print("loss: log loss (churn), Tweedie deviance (CLV), Poisson deviance (purchases); lower is better")
    if not fit.season:
        console.print("no season profile: the history before the training cutoffs is shorter than a year")


def drift(console: Console, summary) -> None:
    """The drift check in one line: a warning when a feature moved past the threshold, a plain note otherwise."""
    if summary.drifted:
        console.print(f"[bold yellow]warning:[/] {summary.verdict}", highlight=False, soft_wrap=True)
    else:
        console.print(summary.verdict, highlight=False, soft_wrap=True)


def top_at_risk(console: Console, predictions: pd.DataFrame, n: int = 10) -> None:
    """The customers with the most value at risk: P(churn) x predicted CLV."""
    at_risk = predictions.assign(value_at_risk=predictions["churn_probability"] * predictions["predicted_clv"])
    top = at_risk.nlargest(n, "value_at_risk")
    table = Table(title=f"top {n} customers by value at risk (P(churn) x CLV)")
    for col in ("customer", "P(churn)", "CLV", "P10-P90", "segment", "why"):
        table.add_column(col, justify="right" if col in ("P(churn)", "CLV") else "left")
    for r in top.itertuples(index=False):
        table.add_row(
            str(r.customer_id),
            f"{r.churn_probability:.0%}",
            f"{r.predicted_clv:,.0f}",
            f"{r.clv_lower:,.0f}-{r.clv_upper:,.0f}",
            r.segment,
            str(r.top_reasons).split("; ")[0],
        )
    console.print(table)
