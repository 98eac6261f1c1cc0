"""Future value over the horizon: LightGBM learns a multiplicative correction to the BTYD baseline forecast
(its log is the boosting start, ``init_score``), then the level is re-anchored on a later snapshot, and a P10-P90
interval comes from the spread of actuals per band of predictions on that snapshot (split conformal)."""

from __future__ import annotations

from dataclasses import dataclass, field

import lightgbm as lgb
import numpy as np

from models.boosting import BoosterConfig, fit_early_stopped, refit_all, rounds_for_refit

FLOOR = 1e-3  # smallest baseline value whose log starts the boosting


def _log_base(base: np.ndarray) -> np.ndarray:
    return np.log(np.maximum(np.asarray(base, dtype=float), FLOOR))


@dataclass
class BaselineCorrectedRegressor:
    """A non-negative target (spend, purchases) predicted as baseline x learned correction x level.

    ``objective`` is ``tweedie`` for spend (many zeros, long tail) or ``poisson`` for counts. Negative targets
    (net returns) are clipped at 0 for fitting; the level is fitted on the unclipped sums.
    """

    objective: str = "tweedie"
    config: BoosterConfig = field(default_factory=BoosterConfig)
    features: list[str] = field(default_factory=list)
    booster_: lgb.Booster | None = None
    level_: float = 1.0

    def _params(self) -> dict:
        extra = {"tweedie_variance_power": 1.5} if self.objective == "tweedie" else {}
        return self.config.params(self.objective, **extra)

    def fit(self, x_train, y_train, base_train, x_val, y_val, base_val, features: list[str]):
        self.features = list(features)
        self.booster_ = fit_early_stopped(
            self._params(),
            x_train,
            np.maximum(y_train, 0.0),
            x_val,
            np.maximum(y_val, 0.0),
            self.features,
            self.config,
            init_train=_log_base(base_train),
            init_val=_log_base(base_val),
        )
        raw = self._unlevelled(x_val, base_val)
        self.level_ = float(np.sum(y_val) / np.sum(raw)) if np.sum(raw) > 0 else 1.0
        return self

    def refit(self, x, y, base, train_rows: int):
        rounds = rounds_for_refit(self.booster_, train_rows, len(y))
        self.booster_ = refit_all(self._params(), x, np.maximum(y, 0.0), self.features, rounds, init=_log_base(base))
        return self

    def _unlevelled(self, x: np.ndarray, base: np.ndarray) -> np.ndarray:
        margin = self.booster_.predict(x, raw_score=True, num_threads=1 if len(x) < 64 else 0)
        return np.exp(margin + _log_base(base))

    def predict(self, x: np.ndarray, base: np.ndarray) -> np.ndarray:
        return self.level_ * self._unlevelled(x, base)

    def to_dict(self) -> dict:
        return {
            "objective": self.objective,
            "config": self.config.as_dict(),
            "features": self.features,
            "booster": self.booster_.model_to_string(),
            "level": self.level_,
        }

    @classmethod
    def from_dict(cls, d: dict):
        return cls(
            objective=d["objective"],
            config=BoosterConfig(**d["config"]),
            features=list(d["features"]),
            booster_=lgb.Booster(model_str=d["booster"]),
            level_=float(d["level"]),
        )


@dataclass
class IntervalBands:
    """P10-P90 interval per band of predicted value, as multiples of the prediction fitted on held-out actuals.

    Within a band, ``lower`` is the 10th percentile of actual / predicted and ``upper`` the percentile that brings
    the share inside ``[lower, upper]`` to 80 % (many actuals tie at 0, so a plain P90 would over-cover).
    """

    edges: list[float] = field(default_factory=list)
    lower: list[float] = field(default_factory=list)
    upper: list[float] = field(default_factory=list)
    coverage: float = 0.8

    @classmethod
    def fit(cls, pred: np.ndarray, actual: np.ndarray, bands: int = 20, coverage: float = 0.8) -> IntervalBands:
        pred = np.maximum(np.asarray(pred, dtype=float), FLOOR)
        ratio = np.asarray(actual, dtype=float) / pred
        edges = np.unique(np.quantile(pred, np.linspace(0, 1, bands + 1)[1:-1]))
        band = np.searchsorted(edges, pred, side="right")
        lo, hi = [], []
        alpha = (1 - coverage) / 2
        for b in range(len(edges) + 1):
            r = np.sort(ratio[band == b])
            if r.size == 0:
                lo.append(lo[-1] if lo else 0.0)
                hi.append(hi[-1] if hi else 1.0)
                continue
            low = float(np.quantile(r, alpha, method="inverted_cdf"))
            below = np.searchsorted(r, low, side="left") / r.size
            lo.append(low)
            hi.append(float(np.quantile(r, min(1.0, below + coverage), method="inverted_cdf")))
        return cls(edges=edges.tolist(), lower=lo, upper=hi, coverage=coverage)

    def predict(self, pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        pred = np.asarray(pred, dtype=float)
        band = np.searchsorted(np.asarray(self.edges), pred, side="right")
        return np.asarray(self.lower)[band] * pred, np.asarray(self.upper)[band] * pred

    def to_dict(self) -> dict:
        return {"edges": self.edges, "lower": self.lower, "upper": self.upper, "coverage": self.coverage}

    @classmethod
    def from_dict(cls, d: dict) -> IntervalBands:
        return cls(**d)
