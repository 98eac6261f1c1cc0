"""Rich tables of the feature stage: the generated log, the policy's counts, the RFM segments."""

from __future__ import annotations

from pathlib import Path

import ibis.expr.types as ir
import pandas as pd
from rich.console import Console
from rich.table import Table

from features.policy import PolicyReport
from features.rfm import SEGMENT_RULES


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
