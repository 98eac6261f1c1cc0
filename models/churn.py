"""Churn: P(no purchase in the horizon). A LightGBM classifier starts from the BTYD baseline's log-odds
(``init_score``) and learns a correction on windows spread over a year, early-stopped on validation customers; on
other validation customers it is blended with the baseline (:mod:`models.blend`), which sets how far the shipped
probabilities move from the baseline's. No Platt scaling: fitted on one window, its intercept would carry that
window's season (its churn level) into every other. Without a booster it is the baseline alone."""

from __future__ import annotations

from dataclasses import dataclass, field

import lightgbm as lgb
import numpy as np

from models.blend import Choice, choose, log_loss
from models.boosting import BoosterConfig, fit_early_stopped

EPS = 1e-6  # probabilities stay inside [EPS, 1 - EPS]: finite log-odds and log loss


def logit(p) -> np.ndarray:
    """Log-odds of a probability, clipped away from 0 and 1."""
    p = np.clip(np.asarray(p, dtype=float), EPS, 1 - EPS)
    return np.log(p / (1 - p))


@dataclass
class ChurnModel:
    """:meth:`fit` (training rows, early stopping on validation rows), then :meth:`calibrate` (the blend weight) on
    other validation rows. ``booster_`` None: the baseline alone (too little history to learn a correction)."""

    config: BoosterConfig = field(default_factory=BoosterConfig)
    features: list[str] = field(default_factory=list)
    booster_: lgb.Booster | None = None
    choice_: Choice = field(default_factory=lambda: Choice(weight=0.0))
    # The validation loss after each boosting round, {metric: [values]} (not saved with the model).
    evals_result_: dict = field(default_factory=dict, compare=False, repr=False)

    def _params(self) -> dict:
        return self.config.params("binary", metric="binary_logloss")

    def fit(self, x_train, y_train, base_train, x_val, y_val, base_val, features: list[str]) -> ChurnModel:
        """``base_*``: the baseline's P(churn) per row, the boosting start."""
        self.features = list(features)
        self.booster_ = fit_early_stopped(
            self._params(), x_train, y_train, x_val, y_val, self.features, self.config,
            init_train=logit(base_train), init_val=logit(base_val), record=self.evals_result_,
        )  # fmt: skip
        self.choice_ = Choice(weight=1.0)
        return self

    def calibrate(self, x, y, base) -> ChurnModel:
        """The blend weight with the baseline, by log loss on these held-out rows."""
        y = np.asarray(y, dtype=int)
        if self.booster_ is None or np.unique(y).size < 2:
            return self
        model, baseline = self._model_logit(x, base), logit(base)
        self.choice_ = choose(lambda w: log_loss(y, w * model + (1 - w) * baseline))
        return self

    def _model_logit(self, x: np.ndarray, base: np.ndarray) -> np.ndarray:
        margin = self.booster_.predict(x, raw_score=True, num_threads=1 if len(x) < 64 else 0)
        return margin + logit(base)

    def predict_logit(self, x: np.ndarray, base: np.ndarray) -> np.ndarray:
        """Log-odds of what ships: w x model + (1 - w) x baseline."""
        w = self.choice_.weight
        if w == 0.0:
            return logit(base)
        return w * self._model_logit(x, base) + (1 - w) * logit(base)

    def predict_proba(self, x: np.ndarray, base: np.ndarray) -> np.ndarray:
        """Churn probability per row (the baseline's own when it ships alone), inside [EPS, 1 - EPS]."""
        if self.choice_.weight == 0.0:
            return np.clip(np.asarray(base, dtype=float), EPS, 1 - EPS)
        return np.clip(1.0 / (1.0 + np.exp(-self.predict_logit(x, base))), EPS, 1 - EPS)

    def contributions(self, x: np.ndarray) -> np.ndarray:
        """SHAP values of the trees' correction (``pred_contrib``) in the shipped log-odds: scaled by the weight they
        enter with; one column per feature plus the bias. Zero without a booster."""
        if self.booster_ is None or self.choice_.weight == 0.0:
            return np.zeros((len(x), len(self.features) + 1))
        return self.booster_.predict(x, pred_contrib=True) * self.choice_.weight

    def to_dict(self) -> dict:
        return {
            "config": self.config.as_dict(),
            "features": self.features,
            "booster": self.booster_.model_to_string() if self.booster_ is not None else None,
            "choice": self.choice_.to_dict(),
        }

    @classmethod
    def from_dict(cls, d: dict) -> ChurnModel:
        return cls(
            config=BoosterConfig(**d["config"]),
            features=list(d["features"]),
            booster_=lgb.Booster(model_str=d["booster"]) if d["booster"] else None,
            choice_=Choice.from_dict(d["choice"]),
        )
