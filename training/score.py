"""Batch scoring: features at as_of for every customer, the bundle's predictions, a drift check against training."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd

from features import InputError, TransactionLog
from features.build import features_from_daily
from features.policy import daily_activity
from models.bundle import ModelBundle
from models.drift import psi

PSI_WARN = 0.25


@dataclass
class ScoreResult:
    predictions: pd.DataFrame
    drift: dict[str, float]

    @property
    def drifted(self) -> dict[str, float]:
        return {k: v for k, v in sorted(self.drift.items(), key=lambda kv: -kv[1]) if v > PSI_WARN}


def score(log: TransactionLog, as_of: dt.date, bundle: ModelBundle, reasons: bool = True) -> ScoreResult:
    """Predictions for every customer with a purchase before ``as_of``."""
    config = bundle.feature_windows()
    feats = features_from_daily(daily_activity(log), as_of, config, log.has_cost).order_by("customer_id").to_pandas()
    if feats.empty:
        raise InputError(f"no customer has a purchase before {as_of}")
    return ScoreResult(predictions=bundle.predict(feats, reasons=reasons), drift=psi(bundle.drift_reference, feats))
