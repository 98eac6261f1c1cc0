"""The one-pass feature plan (customer-day table once, customer periods, summary counts from passes that happen
anyway) gives exactly what the old plan gave: features, labels and every count of the run summary."""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import pandas as pd
import pytest

from features import ColumnMap, FeatureConfig, Policy, policy_report, read_transactions
from features.generate import GeneratorConfig, generate
from features.periods import customer_periods
from features.policy import daily_activity
from features.snapshots import snapshot_from_periods
from tests import old_plan

AS_OF = dt.date(2024, 7, 1)
HORIZON = 90


@pytest.fixture(scope="module")
def messy_log() -> pd.DataFrame:
    """Generated purchases with returns and several orders a day, plus what real logs add: exact duplicate rows
    (pairs and triples), line items of one order (same order and time, equal or different amounts) and zero rows."""
    tx, _ = generate(GeneratorConfig(customers=1500, seed=7))
    rng = np.random.default_rng(3)
    pairs = tx.sample(120, random_state=1)
    triples = tx.sample(30, random_state=2)
    lines = tx.sample(150, random_state=3).assign(
        amount=lambda f: np.round(f["amount"] * rng.uniform(0.1, 1.0, len(f)), 2)
    )
    equal_lines = tx.sample(40, random_state=4)  # a second line with the same amount: a duplicate row
    third_lines = lines.assign(amount=lambda f: f["amount"] + 1.0)  # three differing rows of one customer-day
    zeros = tx.sample(30, random_state=5).assign(amount=0.0)
    return pd.concat([tx, pairs, triples, triples, lines, equal_lines, third_lines, zeros], ignore_index=True)


CASES = {
    "ids and dates only": dict(columns=ColumnMap(), policy=Policy()),
    "orders and cost": dict(columns=ColumnMap(order="order_id", cost="cost"), policy=Policy()),
    "duplicates dropped": dict(columns=ColumnMap(order="order_id"), policy=Policy(drop_duplicates=True)),
    "integer ids": dict(columns=ColumnMap(), policy=Policy(), integer_ids=True),
}


@pytest.mark.parametrize("case", CASES)
def test_one_pass_equals_the_old_plan(messy_log, case):
    spec = CASES[case]
    frame = messy_log
    if spec.get("integer_ids"):
        frame = frame.assign(customer_id=frame["customer_id"].str[1:].astype("int64"))
    log = read_transactions(frame, spec["columns"], spec["policy"])
    if spec.get("integer_ids"):
        assert log.rows.customer_id.type().is_integer()  # grouped as integers, given out as text
    config = FeatureConfig(columns=spec["columns"], policy=spec["policy"])

    periods = customer_periods(
        daily_activity(log, report=True), AS_OF, config, log.has_cost, HORIZON, later=True, report=True
    ).cache()
    new = snapshot_from_periods(periods, AS_OF, HORIZON, config, log.has_cost).order_by("customer_id").to_pandas()
    old_log = dataclasses.replace(log, rows=log.rows.mutate(customer_id=log.rows.customer_id.cast("string")))
    old = (
        old_plan.features(old_log, AS_OF, config)
        .inner_join(old_plan.labels(old_log, AS_OF, HORIZON), "customer_id")
        .order_by("customer_id")
        .to_pandas()
    )
    assert len(new) > 1000
    assert list(new.columns) == list(old.columns)
    pd.testing.assert_frame_equal(new, old, check_exact=False, rtol=1e-12, atol=1e-9)

    report = dataclasses.asdict(policy_report(log, periods))
    expected = old_plan.report(old_log)
    expected["first_day"], expected["last_day"] = (pd.Timestamp(expected[k]).date() for k in ("first_day", "last_day"))
    assert {k: report[k] for k in expected} == expected
    assert report == dataclasses.asdict(policy_report(log))  # the same counts without the features pass
    if not spec["policy"].drop_duplicates:
        assert report["duplicate_rows"] > 150  # the pairs, triples and equal lines are all found
