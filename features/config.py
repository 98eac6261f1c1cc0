"""Typed configuration of the input contract and of the feature definitions."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from features.errors import InputError

SAMPLE_DIGITS = 4  # hex digits of the md5 digest that pick a customer's sample bucket (65,536 buckets)


@dataclass(frozen=True)
class ColumnMap:
    """Which input columns hold the customer id, the date, the amount and the optional order id and cost."""

    customer: str = "customer_id"
    date: str = "date"
    amount: str = "amount"
    order: str | None = None
    cost: str | None = None
    date_format: str | None = None

    def required(self) -> list[str]:
        return [self.customer, self.date, self.amount] + [c for c in (self.order, self.cost) if c]


@dataclass(frozen=True)
class Policy:
    """How raw rows become purchases; see README "Transaction policy"."""

    drop_duplicates: bool = False


@dataclass(frozen=True)
class FeatureConfig:
    """Windows (days) of the behavioural features and the recent/prior window of the spend trend."""

    windows: tuple[int, ...] = (30, 90, 180, 365)
    trend_days: int = 90
    columns: ColumnMap = field(default_factory=ColumnMap)
    policy: Policy = field(default_factory=Policy)


_HORIZON = re.compile(r"^\s*(\d+)\s*([dw]?)\s*$", re.IGNORECASE)


def parse_horizon(text: str | int) -> int:
    """Parse a horizon such as ``181d``, ``26w`` or ``90`` (days) into a number of days."""
    if isinstance(text, int) and not isinstance(text, bool):
        days = text
    else:
        m = _HORIZON.match(str(text))
        if not m:
            raise InputError(f"horizon {text!r} is not understood: write a number of days or weeks, like 181d or 26w")
        days = int(m.group(1)) * (7 if m.group(2).lower() == "w" else 1)
    if days <= 0:
        raise InputError(f"horizon {text!r} must be at least one day")
    return days
