"""Rich tables the CLI prints: run summaries a data scientist reads at a glance."""

from __future__ import annotations

from pathlib import Path

import ibis.expr.types as ir
import pandas as pd
from rich import box
from rich.console import Console
from rich.table import Table

from features.policy import PolicyReport
from features.rfm import SEGMENT_RULES
from models.blend import Choice


def generated(console: Console, paths: dict[str, Path]) -> None:
    tx = pd.read_parquet(paths["transactions"], columns=["customer_id", "date"])
    table = Table(title="generated", show_header=False)
    table.add_row("transactions", f"{len(tx):,} rows -> {paths['transactions']}")
    table.add_row("customers", f"{tx['customer_id'].nunique():,}")
    table.add_row("date range", f"{tx['date'].min():%Y-%m-%d} .. {tx['date'].max():%Y-%m-%d}")
    table.add_row("truth", str(paths["truth"]))
    console.print(table)


def policy(console: Console, report: PolicyReport, source: str) -> None:
    table = Table(title=f"input: {source}", show_header=True)
    table.add_column("what")
    table.add_column("count", justify="right")
    dup = "dropped" if report.duplicates_dropped else "kept"
    rows = [
        ("rows read", report.rows),
        ("customers", report.customers),
        (f"exact duplicate rows ({dup})", report.duplicate_rows),
        ("return rows (negative amount)", report.return_rows),
        ("zero-amount rows", report.zero_amount_rows),
        ("rows merged into a same-day customer-day", report.same_day_rows_merged),
        ("customer-days", report.customer_days),
        ("purchase days (net > 0)", report.purchase_days),
        ("customer-days that are no purchase (net <= 0)", report.non_purchase_days),
        ("customers with a purchase", report.customers_with_purchase),
    ]
    for what, n in rows:
        table.add_row(what, f"{n:,}")
    table.add_row("date range", f"{report.first_day} .. {report.last_day}")
    console.print(table)


def segments(console: Console, features: ir.Table, horizon_days: int | None) -> None:
    """Customers, recency, spend (and, with labels, churn and future spend) per RFM segment."""
    if int(features.count().execute()) == 0:
        console.print("no customer has a purchase before the cutoff")
        return
    aggs = {
        "customers": features.count(),
        "days_since": features.days_since_last.median(),
        "spend_365d": features.spend_365d.mean(),
    }
    if horizon_days is not None:
        aggs["churn"] = features.churned.cast("float64").mean()
        aggs["future"] = features.future_spend.mean()
    summary = features.group_by("rfm_segment").aggregate(**aggs).to_pandas().set_index("rfm_segment")
    total = int(summary["customers"].sum()) if len(summary) else 0
    if not total:
        console.print("no customer has a purchase before the cutoff")
        return
    summary = summary.loc[[name for name, _, _ in SEGMENT_RULES if name in summary.index]]
    table = Table(title=f"RFM segments ({total:,} customers)")
    for col, justify in [("segment", "left"), ("customers", "right"), ("share", "right")]:
        table.add_column(col, justify=justify)
    table.add_column("days since last (median)", justify="right")
    table.add_column("spend 365d (mean)", justify="right")
    if horizon_days is not None:
        table.add_column(f"churned next {horizon_days}d", justify="right")
        table.add_column(f"spend next {horizon_days}d (mean)", justify="right")
    for name, row in summary.iterrows():
        cells = [
            str(name),
            f"{int(row.customers):,}",
            f"{row.customers / total:.1%}",
            f"{row.days_since:.0f}",
            f"{row.spend_365d:,.2f}",
        ]
        if horizon_days is not None:
            cells += [f"{row.churn:.1%}", f"{row.future:,.2f}"]
        table.add_row(*cells)
    console.print(table)


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


def drift(console: Console, drifted: dict[str, float]) -> None:
    """Warn about features whose scoring distribution moved away from training (PSI)."""
    if not drifted:
        return
    listed = ", ".join(f"{k} ({v:.2f})" for k, v in list(drifted.items())[:8])
    console.print(f"[bold yellow]warning:[/] feature drift since training (PSI > 0.25): {listed}")


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
