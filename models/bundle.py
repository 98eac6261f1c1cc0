"""Everything needed to score, in one object: horizon, training as-of, feature list, BTYD baseline, churn, CLV and
purchase models, interval bands, segment thresholds, drift reference, the set of training customers and backtest
metrics.

``predict(features)`` takes the frame ``features.build_features`` makes and returns one row per customer.
``to_dict``/``from_dict`` give a JSON-able form (boosters as LightGBM model strings); files are training's job.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from features.config import FeatureConfig
from features.seasonality import RECENT_DAYS, observed_season, season_index
from models.btyd import BGNBDParams, BTYDBaseline, GammaGammaParams, bgnbd_prob_no_purchase
from models.churn import ChurnModel, logit
from models.clv import BaselineCorrectedRegressor, IntervalBands
from models.explain import BASELINE_INPUTS, baseline_contributions, top_reasons
from models.matrix import SEGMENT_CODES, to_matrix
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
FORMAT = 3  # bump when to_dict changes shape; from_dict refuses other formats with a clear message


def baseline_columns(cols, baseline: BTYDBaseline, horizon_days) -> dict[str, np.ndarray]:
    """The BTYD forecasts over ``horizon_days`` (a number or a per-row array) as ``btyd_*`` arrays; ``cols`` is a
    feature frame or a mapping of column name to array."""
    pred = baseline.predict(
        np.asarray(cols["frequency"], dtype=float),
        np.asarray(cols["recency"], dtype=float),
        np.asarray(cols["T"], dtype=float),
        np.asarray(cols["monetary_value"], dtype=float),
        np.asarray(horizon_days, dtype=float),
    )
    return {
        "btyd_p_alive": pred["p_alive"],
        "btyd_prob_no_purchase": pred["prob_no_purchase"],
        "btyd_expected_purchases": pred["expected_purchases"],
        "btyd_expected_value": pred["expected_value"],
    }


def add_baseline(frame: pd.DataFrame, baseline: BTYDBaseline, horizon_days) -> pd.DataFrame:
    """The frame with :func:`baseline_columns` added."""
    return frame.assign(**baseline_columns(frame, baseline, horizon_days))


def season_columns(first_purchase, profile: list[float] | None, as_of: dt.date, horizon_days) -> dict[str, np.ndarray]:
    """Season features: the coming window's intensity, the recent past's, each customer's observed season, and
    ``season_adjust`` = window / observed, by which a stationary BTYD forecast is scaled for the season."""
    window = np.asarray(horizon_days)
    if window.ndim == 0:
        upcoming = np.full(len(first_purchase), season_index(profile, as_of, int(window)))
    else:
        known = {int(w): season_index(profile, as_of, int(w)) for w in np.unique(window)}
        upcoming = np.array([known[int(w)] for w in window], dtype=float)
    observed = observed_season(profile, first_purchase, as_of)
    return {
        "season_index": upcoming,
        "season_recent": np.full(
            len(upcoming), season_index(profile, as_of - dt.timedelta(days=RECENT_DAYS), RECENT_DAYS)
        ),
        "season_observed": observed,
        "season_adjust": np.nan_to_num(upcoming / observed, nan=1.0),
    }


def add_season(frame: pd.DataFrame, profile: list[float] | None, as_of: dt.date, horizon_days) -> pd.DataFrame:
    """The frame with :func:`season_columns` added."""
    return frame.assign(**season_columns(frame["first_purchase"], profile, as_of, horizon_days))


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
    margin_rate: float | None = None  # share of net spend kept after cost of goods (from costs, or --margin)
    reason_reference: dict = field(default_factory=dict)  # the typical customer reasons are measured against
    training_customers: dict = field(default_factory=dict)  # models.drift.customer_set; empty in older bundles

    def predict(self, features: pd.DataFrame, reasons: bool = True) -> pd.DataFrame:
        """Scores for every row of a ``build_features`` frame, in its order (columns: ``OUTPUT_COLUMNS``, plus
        ``predicted_margin``, ``margin_lower``, ``margin_upper`` when a margin is known)."""
        if features.empty:
            return pd.DataFrame({c: pd.Series(dtype=object) for c in OUTPUT_COLUMNS})
        as_of = self._as_of(features["last_purchase"].iloc[0], features["days_since_last"].iloc[0])
        derived = self._derived(features, as_of)
        x = to_matrix(features.assign(**derived), self.features)
        out = self._score(features, derived, x, as_of, reasons)
        return pd.DataFrame(out)

    def predict_record(self, record: dict, reasons: bool = True) -> dict:
        """One customer's scores from a dict of feature values, on numpy only (no DataFrame on this path)."""
        cols = {k: np.asarray([v]) for k, v in record.items()}
        as_of = self._as_of(record["last_purchase"], record["days_since_last"])
        derived = self._derived(cols, as_of)
        values = cols | derived
        x = np.array(
            [[SEGMENT_CODES.get(values[f][0], np.nan) if f == "rfm_segment" else values[f][0] for f in self.features]],
            dtype=np.float64,
        )
        out = self._score(cols, derived, x, as_of, reasons)
        return {k: (v[0] if isinstance(v, np.ndarray) else v.iloc[0]) for k, v in out.items()}

    def _derived(self, cols, as_of: dt.date) -> dict[str, np.ndarray]:
        n = len(cols["frequency"])
        return (
            baseline_columns(cols, self.baseline, self.horizon_days)
            | season_columns(cols["first_purchase"], self.season_profile, as_of, self.horizon_days)
            | {"horizon_days": np.full(n, self.horizon_days)}
        )

    def _score(self, cols, derived: dict, x: np.ndarray, as_of: dt.date, reasons: bool) -> dict:
        adjust = derived["season_adjust"]
        churn = self.churn.predict_proba(x, derived["btyd_prob_no_purchase"])
        value, count = derived["btyd_expected_value"], derived["btyd_expected_purchases"]
        clv = self.clv.predict(x, value * adjust, value)
        lower, upper = self.intervals.predict(clv)
        purchases = self.purchases.predict(x, count * adjust, count)
        out = {
            "customer_id": np.asarray(cols["customer_id"]),
            "churn_probability": churn,
            "predicted_clv": clv,
            "clv_lower": np.minimum(lower, clv),
            "clv_upper": np.maximum(upper, clv),
            "expected_purchases": purchases,
            "next_order_date": self._next_order_date(as_of, purchases),
            "segment": value_risk_segment(clv, churn, self.value_thresholds, self.segment_config),
            "top_reasons": top_reasons(self.contributions(cols, x), self.features)
            if reasons
            else np.full(len(clv), "", dtype=object),
        }
        rate = self._margin_rates(cols)
        if rate is not None:
            out["predicted_margin"] = clv * rate
            out["margin_lower"] = out["clv_lower"] * rate
            out["margin_upper"] = out["clv_upper"] * rate
        return out

    def contributions(self, cols, x: np.ndarray) -> np.ndarray:
        """Per customer and feature (plus a bias column), what it adds to the shipped churn log-odds: the trees'
        SHAP values and the baseline's Shapley values (on its inputs), each at the weight it ships with."""
        out = self.churn.contributions(x)
        if not self.reason_reference:
            return out
        h = self.horizon_days
        base = baseline_contributions(
            lambda f, r, t: logit(bgnbd_prob_no_purchase(self.baseline.bgnbd_, h, f, r, t)),
            *(np.asarray(cols[k], dtype=float) for k in BASELINE_INPUTS),
            reference=self.reason_reference,
        )
        for j, name in enumerate(BASELINE_INPUTS):  # the baseline's log-odds enter the shipped ones whole
            if name in self.features:
                out[:, self.features.index(name)] += base[:, j]
        return out

    def _margin_rates(self, cols) -> np.ndarray | None:
        """Per customer: their own margin share when the log has costs, else the bundle's rate; None if neither."""
        has_cost = "total_margin" in cols
        if self.margin_rate is None and not has_cost:
            return None
        fallback = self.margin_rate if self.margin_rate is not None else np.nan
        rate = np.full(len(cols["frequency"]), fallback, dtype=float)
        if has_cost:
            spend = np.asarray(cols["total_spend"], dtype=float)
            own = np.divide(np.asarray(cols["total_margin"], dtype=float), spend, out=rate.copy(), where=spend > 0)
            rate = np.clip(own, 0.0, 1.0)
        return rate

    @staticmethod
    def _as_of(last_purchase, days_since_last) -> dt.date:
        """The cutoff a feature frame was built at: last purchase + days since (the same for every row)."""
        return (pd.Timestamp(last_purchase) + pd.Timedelta(days=int(days_since_last))).date()

    def _next_order_date(self, as_of: dt.date, purchases: np.ndarray) -> np.ndarray:
        """as_of + horizon / expected purchases, when at least one purchase in two horizons is expected and the date
        is on the calendar (else NaT)."""
        days = np.where(purchases >= 0.5, np.ceil(self.horizon_days / np.maximum(purchases, 1e-9)), np.nan)
        days = np.where(days <= (dt.date.max - as_of).days, days, np.nan)
        base = np.datetime64(as_of, "D")
        dates = np.where(np.isnan(days), np.datetime64("NaT"), base + np.nan_to_num(days).astype("timedelta64[D]"))
        return dates.astype("datetime64[ms]")  # a unit Parquet stores as is, so files round-trip exactly

    def to_dict(self) -> dict:
        return {
            "format": FORMAT,
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
            "margin_rate": self.margin_rate,
            "reason_reference": self.reason_reference,
            "training_customers": self.training_customers,
        }

    @classmethod
    def from_dict(cls, d: dict) -> ModelBundle:
        if d.get("format") != FORMAT:
            raise ValueError(
                f"this model bundle has format {d.get('format')!r}, this code reads format {FORMAT}: "
                "retrain it with `clv train` (or serve it with the code version that trained it)"
            )
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
            margin_rate=d.get("margin_rate"),
            reason_reference=d.get("reason_reference", {}),
            training_customers=d.get("training_customers", {}),
        )

    def feature_windows(self) -> FeatureConfig:
        """The feature windows the bundle was trained with (column mapping and policy come from the caller)."""
        d = self.feature_config or {}
        base = FeatureConfig()
        return FeatureConfig(
            windows=tuple(d.get("windows", base.windows)), trend_days=d.get("trend_days", base.trend_days)
        )
