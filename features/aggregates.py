"""Conditional aggregates written as CASE expressions: DuckDB runs ``FILTER (WHERE ...)`` clauses, which Ibis emits
for ``where=``, about 40 % slower over millions of customer-days, for the same numbers."""

from __future__ import annotations

import ibis
import ibis.expr.types as ir


def when(cond: ir.BooleanValue, value: ir.Value) -> ir.Value:
    """``value`` where ``cond`` holds, NULL elsewhere (aggregates skip NULLs)."""
    return ibis.ifelse(cond, value, ibis.null(value.type()))


def count_if(cond: ir.BooleanValue) -> ir.IntegerValue:
    """How many rows satisfy ``cond`` (0 when none)."""
    return when(cond, ibis.literal(1, type="int8")).count()
