"""Everything needed to score, in one object: horizon, training as-of, feature list, BTYD baseline, churn, CLV and
purchase models, interval bands, segment thresholds, drift reference and backtest metrics.

``predict(features)`` takes the frame ``features.build_features`` makes and returns one row per customer.
``to_dict``/``from_dict`` give a JSON-able form (boosters as LightGBM model strings); files are training's job.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from features.seasonality import RECENT_DAYS, observed_season, season_index
from models.btyd import BGNBDParams, BTYDBaseline, GammaGammaParams
from models.churn import ChurnModel
from models.clv import BaselineCorrectedRegressor, IntervalBands
from models.explain import top_reasons
from models.matrix import to_matrix
from models.segments import SegmentConfig, value_risk_segment

OUTPUT_COLUMNS = [
    "customer_id",
    "churn_probability",
    "predicted_clv",
    "clv_lower",
    "clv_upper",
    "expected_purchases",
    "next_order_date",
    "segment",
    "top_reasons",
]
BTYD_COLUMNS = ["btyd_p_alive", "btyd_prob_no_purchase", "btyd_expected_purchases", "btyd_expected_value"]


def add_baseline(frame: pd.DataFrame, baseline: BTYDBaseline, horizon_days) -> pd.DataFrame:
    """Add the BTYD forecasts over ``horizon_days`` (a number or a per-row array) as ``btyd_*`` columns."""
    pred = baseline.predict(
        frame["frequency"].to_numpy(dtype=float),
        frame["recency"].to_numpy(dtype=float),
        frame["T"].to_numpy(dtype=float),
        frame["monetary_value"].to_numpy(dtype=float),
        np.asarray(horizon_days, dtype=float),
    )
    return frame.assign(
        btyd_p_alive=pred["p_alive"],
        btyd_prob_no_purchase=pred["prob_no_purchase"],
        btyd_expected_purchases=pred["expected_purchases"],
        btyd_expected_value=pred["expected_value"],
    )


def add_season(frame: pd.DataFrame, profile: list[float] | None, as_of: dt.date, horizon_days) -> pd.DataFrame:
    """Season features: the coming window's intensity, the recent past's, each customer's observed season, and
    ``season_adjust`` = window / observed, by which a stationary BTYD forecast is scaled for the season."""
    window = np.asarray(horizon_days)
    if window.ndim == 0:
        upcoming = season_index(profile, as_of, int(window))
    else:
        upcoming = np.array([season_index(profile, as_of, int(w)) for w in window]) if len(window) else window
    observed = observed_season(profile, frame["first_purchase"], as_of)
    adjust = np.nan_to_num(np.asarray(upcoming, dtype=float) / observed, nan=1.0)
    return frame.assign(
        season_index=upcoming,
        season_recent=season_index(profile, as_of - dt.timedelta(days=RECENT_DAYS), RECENT_DAYS),
        season_observed=observed,
        season_adjust=adjust,
    )


def fit_baseline(frame: pd.DataFrame, penalizer: float = 0.001) -> BTYDBaseline:
    """BG/NBD + Gamma-Gamma fitted on one snapshot's BTYD summary."""
    return BTYDBaseline(penalizer=penalizer).fit(
        frame["frequency"].to_numpy(dtype=float),
        frame["recency"].to_numpy(dtype=float),
        frame["T"].to_numpy(dtype=float),
        frame["monetary_value"].to_numpy(dtype=float),
    )


@dataclass
class ModelBundle:
    """The shipped model. Built by training; read by ``clv score`` and the service."""

    horizon_days: int
    trained_as_of: str
    features: list[str]
    baseline: BTYDBaseline
    churn: ChurnModel
    clv: BaselineCorrectedRegressor
    purchases: BaselineCorrectedRegressor
    intervals: IntervalBands
    value_thresholds: tuple[float, float]
    segment_config: SegmentConfig = field(default_factory=SegmentConfig)
    feature_config: dict = field(default_factory=dict)
    drift_reference: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    season_profile: list[float] | None = None

    def predict(self, features: pd.DataFrame, reasons: bool = True) -> pd.DataFrame:
        """Scores for every row of a ``build_features`` frame, in its order (columns: ``OUTPUT_COLUMNS``)."""
        if features.empty:
            return pd.DataFrame({c: pd.Series(dtype=object) for c in OUTPUT_COLUMNS})
        frame = add_baseline(features, self.baseline, self.horizon_days).assign(horizon_days=self.horizon_days)
        frame = add_season(frame, self.season_profile, self._as_of(features), self.horizon_days)
        x = to_matrix(frame, self.features)
        churn = self.churn.predict_proba(x, frame["btyd_prob_no_purchase"].to_numpy())
        adjust = frame["season_adjust"].to_numpy()
        base_value = frame["btyd_expected_value"].to_numpy() * adjust
        clv = self.clv.predict(x, base_value)
        lower, upper = self.intervals.predict(clv)
        purchases = self.purchases.predict(x, frame["btyd_expected_purchases"].to_numpy() * adjust)
        out = pd.DataFrame(
            {
                "customer_id": frame["customer_id"].to_numpy(),
                "churn_probability": churn,
                "predicted_clv": clv,
                "clv_lower": np.minimum(lower, clv),
                "clv_upper": np.maximum(upper, clv),
                "expected_purchases": purchases,
                "next_order_date": self._next_order_date(frame, purchases),
                "segment": value_risk_segment(clv, churn, self.value_thresholds, self.segment_config),
            }
        )
        out["top_reasons"] = top_reasons(self.churn.contributions(x), self.features) if reasons else ""
        return out

    @staticmethod
    def _as_of(features: pd.DataFrame) -> dt.date:
        """The cutoff a feature frame was built at (the same for every row)."""
        first = features.iloc[0]
        return (pd.Timestamp(first["last_purchase"]) + pd.Timedelta(days=int(first["days_since_last"]))).date()

    def _next_order_date(self, frame: pd.DataFrame, purchases: np.ndarray) -> pd.Series:
        """as_of + horizon / expected purchases, when at least one purchase in two horizons is expected."""
        as_of = pd.to_datetime(frame["last_purchase"]) + pd.to_timedelta(frame["days_since_last"], unit="D")
        days = np.where(purchases >= 0.5, np.ceil(self.horizon_days / np.maximum(purchases, 1e-9)), np.nan)
        return (as_of + pd.to_timedelta(days, unit="D")).dt.date.where(~np.isnan(days), None)

    def to_dict(self) -> dict:
        return {
            "horizon_days": self.horizon_days,
            "trained_as_of": self.trained_as_of,
            "features": self.features,
            "baseline": {
                "penalizer": self.baseline.penalizer,
                "bgnbd": self.baseline.bgnbd_.as_dict(),
                "gg": self.baseline.gg_.as_dict() if self.baseline.gg_ else None,
                "fallback_spend": getattr(self.baseline, "fallback_spend_", None),
            },
            "churn": self.churn.to_dict(),
            "clv": self.clv.to_dict(),
            "purchases": self.purchases.to_dict(),
            "intervals": self.intervals.to_dict(),
            "value_thresholds": list(self.value_thresholds),
            "segment_config": self.segment_config.as_dict(),
            "feature_config": self.feature_config,
            "drift_reference": self.drift_reference,
            "metrics": self.metrics,
            "season_profile": self.season_profile,
        }

    @classmethod
    def from_dict(cls, d: dict) -> ModelBundle:
        b = d["baseline"]
        baseline = BTYDBaseline(penalizer=b["penalizer"])
        baseline.bgnbd_ = BGNBDParams(**b["bgnbd"])
        baseline.gg_ = GammaGammaParams(**b["gg"]) if b["gg"] else None
        if b.get("fallback_spend") is not None:
            baseline.fallback_spend_ = b["fallback_spend"]
        return cls(
            horizon_days=int(d["horizon_days"]),
            trained_as_of=d["trained_as_of"],
            features=list(d["features"]),
            baseline=baseline,
            churn=ChurnModel.from_dict(d["churn"]),
            clv=BaselineCorrectedRegressor.from_dict(d["clv"]),
            purchases=BaselineCorrectedRegressor.from_dict(d["purchases"]),
            intervals=IntervalBands.from_dict(d["intervals"]),
            value_thresholds=tuple(d["value_thresholds"]),
            segment_config=SegmentConfig(**d["segment_config"]),
            feature_config=d.get("feature_config", {}),
            drift_reference=d.get("drift_reference", {}),
            metrics=d.get("metrics", {}),
            season_profile=d.get("season_profile"),
        )

    @property
    def as_of_date(self) -> dt.date:
        return dt.date.fromisoformat(self.trained_as_of)
