"""Value tier x risk band per customer, e.g. ``high value / at risk``: who to target first."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

TIERS = ("high value", "medium value", "low value")
BANDS = ("safe", "watch", "at risk")
SEGMENTS = tuple(f"{tier} / {band}" for tier in TIERS for band in BANDS)  # every name a customer can get


@dataclass(frozen=True)
class SegmentConfig:
    """Tiers by share of customers ranked by predicted value; bands by churn probability."""

    high_value_share: float = 0.2
    medium_value_share: float = 0.3
    watch_from: float = 0.3
    at_risk_from: float = 0.6

    def as_dict(self) -> dict:
        return asdict(self)


def value_thresholds(predicted_value: np.ndarray, config: SegmentConfig) -> tuple[float, float]:
    """Predicted-value cut points (high, medium) from a reference population, kept in the bundle."""
    v = np.asarray(predicted_value, dtype=float)
    high = float(np.quantile(v, 1 - config.high_value_share))
    medium = float(np.quantile(v, 1 - config.high_value_share - config.medium_value_share))
    return high, medium


def value_risk_segment(
    predicted_value: np.ndarray, churn: np.ndarray, thresholds: tuple[float, float], config: SegmentConfig
) -> np.ndarray:
    """``"<high|medium|low> value / <safe|watch|at risk>"`` per customer."""
    high, medium = thresholds
    v = np.asarray(predicted_value, dtype=float)
    p = np.asarray(churn, dtype=float)
    tier = np.where(v >= high, TIERS[0], np.where(v >= medium, TIERS[1], TIERS[2])).astype(object)
    band = np.where(p >= config.at_risk_from, BANDS[2], np.where(p >= config.watch_from, BANDS[1], BANDS[0]))
    return tier + " / " + band.astype(object)
