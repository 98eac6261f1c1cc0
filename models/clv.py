"""Future value over the horizon: LightGBM learns a multiplicative correction to the BTYD baseline forecast
(its log is the boosting start, ``init_score``), early-stopped on validation customers; on other validation
customers it is blended with the baseline (:mod:`models.blend`). A P10-P90 interval comes from split conformal
quantiles of actual / predicted per band of predicted value, on validation customers used for nothing else."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import lightgbm as lgb
import numpy as np

from models.blend import FLOOR, TWEEDIE_POWER, Choice, choose, poisson_deviance, tweedie_deviance
from models.boosting import BoosterConfig, fit_early_stopped


def _log_base(base: np.ndarray) -> np.ndarray:
    return np.log(np.maximum(np.asarray(base, dtype=float), FLOOR))


@dataclass
class BaselineCorrectedRegressor:
    """A non-negative target (spend, purchases): level x model^w x baseline^(1 - w), where the model is the
    season-scaled baseline x the trees' correction and ``w`` the blend weight chosen on validation customers.

    ``objective`` is ``tweedie`` for spend (many zeros, long tail) or ``poisson`` for counts. Negative targets
    (net returns) are clipped at 0 for fitting. ``booster_`` None: the baseline alone.
    """

    objective: str = "tweedie"
    config: BoosterConfig = field(default_factory=BoosterConfig)
    features: list[str] = field(default_factory=list)
    booster_: lgb.Booster | None = None
    choice_: Choice = field(default_factory=lambda: Choice(weight=0.0))
    level_: float = 1.0  # set by training when the season ahead is unknown: the baseline's total over the population
    # The validation deviance after each boosting round, {metric: [values]} (not saved with the model).
    evals_result_: dict = field(default_factory=dict, compare=False, repr=False)

    def _params(self) -> dict:
        extra = {"tweedie_variance_power": TWEEDIE_POWER} if self.objective == "tweedie" else {}
        return self.config.params(self.objective, **extra)

    def _deviance(self, y, pred) -> np.ndarray:
        return tweedie_deviance(y, pred) if self.objective == "tweedie" else poisson_deviance(y, pred)

    def fit(self, x_train, y_train, init_train, x_val, y_val, init_val, features: list[str]):
        """``init_*``: the season-scaled baseline forecast per row, the boosting start."""
        self.features = list(features)
        self.booster_ = fit_early_stopped(
            self._params(),
            x_train,
            np.maximum(y_train, 0.0),
            x_val,
            np.maximum(y_val, 0.0),
            self.features,
            self.config,
            init_train=_log_base(init_train),
            init_val=_log_base(init_val),
            record=self.evals_result_,
        )
        self.choice_ = Choice(weight=1.0)
        return self

    def calibrate(self, x, y, init, baseline, level_on: tuple | None = None):
        """On held-out rows: the blend weight with the ``baseline`` forecast, by the objective's deviance (not
        re-anchored on them: one window's level carries its own season into every other). ``level_on``: a
        population as (matrix, boosting start, baseline forecast) over which each candidate's total is held at the
        baseline's, for when the season ahead is unknown; the level is part of what each candidate is scored as."""
        if self.booster_ is None:
            return self
        model, base = self._unlevelled(x, init), np.maximum(np.asarray(baseline, dtype=float), FLOOR)
        if level_on is not None:
            pop_model = self._unlevelled(level_on[0], level_on[1])
            pop_base = np.maximum(np.asarray(level_on[2], dtype=float), FLOOR)

        def level(w: float) -> float:
            if level_on is None or w == 0.0:
                return 1.0
            total = float(np.sum(np.exp(w * np.log(pop_model) + (1 - w) * np.log(pop_base))))
            return float(np.sum(level_on[2])) / total if total > 0 and np.sum(level_on[2]) > 0 else 1.0

        def mix(w: float) -> np.ndarray:
            return level(w) * np.exp(w * np.log(model) + (1 - w) * np.log(base))

        self.choice_ = choose(lambda w: self._deviance(y, mix(w)))
        self.level_ = level(self.choice_.weight)
        return self

    def _unlevelled(self, x: np.ndarray, init: np.ndarray) -> np.ndarray:
        margin = self.booster_.predict(x, raw_score=True, num_threads=1 if len(x) < 64 else 0)
        return np.exp(margin + _log_base(init))

    def predict(self, x: np.ndarray, init: np.ndarray, baseline: np.ndarray) -> np.ndarray:
        w = self.choice_.weight
        base = np.maximum(np.asarray(baseline, dtype=float), FLOOR)
        if w == 0.0:
            return np.asarray(baseline, dtype=float).copy()
        return self.level_ * np.exp(w * np.log(self._unlevelled(x, init)) + (1 - w) * np.log(base))

    def to_dict(self) -> dict:
        return {
            "objective": self.objective,
            "config": self.config.as_dict(),
            "features": self.features,
            "booster": self.booster_.model_to_string() if self.booster_ is not None else None,
            "choice": self.choice_.to_dict(),
            "level": self.level_,
        }

    @classmethod
    def from_dict(cls, d: dict):
        return cls(
            objective=d["objective"],
            config=BoosterConfig(**d["config"]),
            features=list(d["features"]),
            booster_=lgb.Booster(model_str=d["booster"]) if d["booster"] else None,
            choice_=Choice.from_dict(d["choice"]),
            level_=float(d["level"]),
        )


@dataclass
class IntervalBands:
    """P10-P90 bounds per band of predicted value, as multiples of the prediction: split conformal (Mondrian by
    band) quantiles of actual / predicted on held-out customers, with the finite-sample (n + 1) correction, so the
    chance that a customer's actual lies below ``lower`` is at most 10 % and above ``upper`` at most 10 %.

    With many customers who buy nothing, the honest P10 is 0: ``lower`` is 0 wherever over 10 % of a band's
    customers spent nothing (their net spend may even be negative: returns).
    """

    edges: list[float] = field(default_factory=list)
    lower: list[float] = field(default_factory=list)
    upper: list[float] = field(default_factory=list)
    coverage: float = 0.8

    @classmethod
    def fit(cls, pred: np.ndarray, actual: np.ndarray, coverage: float = 0.8, min_band: int = 200) -> IntervalBands:
        """Up to 10 bands of equal count (at least ``min_band`` customers each) by predicted value."""
        pred = np.maximum(np.asarray(pred, dtype=float), FLOOR)
        ratio = np.maximum(np.asarray(actual, dtype=float), 0.0) / pred
        bands = int(np.clip(len(pred) // min_band, 1, 10))
        edges = np.unique(np.quantile(pred, np.linspace(0, 1, bands + 1)[1:-1])) if len(pred) else np.array([])
        band = np.searchsorted(edges, pred, side="right")
        alpha = (1 - coverage) / 2
        lo, hi = [], []
        for b in range(len(edges) + 1):
            r = np.sort(ratio[band == b])
            n = r.size
            if n == 0:
                lo.append(lo[-1] if lo else 0.0)
                hi.append(hi[-1] if hi else 1.0)
                continue
            # The k-th smallest is a valid bound (k_lo = 0: none but 0; k_hi > n: the largest); 1e-9 absorbs rounding
            # in (1 - coverage) / 2.
            k_lo = math.floor((n + 1) * alpha + 1e-9)
            k_hi = math.ceil((n + 1) * (1 - alpha) - 1e-9)
            lo.append(float(r[k_lo - 1]) if k_lo >= 1 else 0.0)
            hi.append(float(r[min(k_hi, n) - 1]))
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
