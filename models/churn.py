"""Churn: P(no purchase in the horizon), a LightGBM classifier that starts from the BTYD baseline's log-odds
(``init_score``) and learns a correction, early-stopped and calibrated (sigmoid) on a later snapshot than it was
fitted on. Calibration is Platt scaling (a logistic fit on the log-odds): unlike isotonic steps it creates no
ties, so the ranking (AUC) is kept."""

from __future__ import annotations

from dataclasses import dataclass, field

import lightgbm as lgb
import numpy as np
from sklearn.linear_model import LogisticRegression

from models.boosting import BoosterConfig, fit_early_stopped, refit_all, rounds_for_refit


def logit(p) -> np.ndarray:
    """Log-odds of a probability, clipped away from 0 and 1."""
    p = np.clip(np.asarray(p, dtype=float), 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


@dataclass
class ChurnModel:
    """Fit with :meth:`fit` (train + later validation rows), optionally :meth:`refit` on all rows."""

    config: BoosterConfig = field(default_factory=BoosterConfig)
    features: list[str] = field(default_factory=list)
    booster_: lgb.Booster | None = None
    calibration_: tuple[float, float] = (1.0, 0.0)  # Platt: sigmoid(slope * logit(raw) + intercept)

    def _params(self) -> dict:
        return self.config.params("binary", metric="binary_logloss")

    def fit(self, x_train, y_train, base_train, x_val, y_val, base_val, features: list[str]) -> ChurnModel:
        """``base_*``: the baseline's P(churn) per row, the boosting start."""
        self.features = list(features)
        self.booster_ = fit_early_stopped(
            self._params(), x_train, y_train, x_val, y_val, self.features, self.config,
            init_train=logit(base_train), init_val=logit(base_val),
        )  # fmt: skip
        platt = LogisticRegression(C=1e6)
        platt.fit(logit(self.predict_raw(x_val, base_val)).reshape(-1, 1), np.asarray(y_val, dtype=int))
        self.calibration_ = (float(platt.coef_[0, 0]), float(platt.intercept_[0]))
        return self

    def refit(self, x, y, base, train_rows: int) -> ChurnModel:
        """Same settings and calibration, trained on every row (the final model)."""
        rounds = rounds_for_refit(self.booster_, train_rows, len(y))
        self.booster_ = refit_all(self._params(), x, y, self.features, rounds, init=logit(base))
        return self

    def predict_raw(self, x: np.ndarray, base: np.ndarray) -> np.ndarray:
        """Uncalibrated probability: sigmoid(baseline log-odds + trees)."""
        margin = self.booster_.predict(x, raw_score=True, num_threads=1 if len(x) < 64 else 0)
        return 1.0 / (1.0 + np.exp(-(margin + logit(base))))

    def predict_proba(self, x: np.ndarray, base: np.ndarray) -> np.ndarray:
        """Calibrated churn probability per row, kept inside (0.001, 0.999) so log loss stays finite."""
        slope, intercept = self.calibration_
        z = slope * logit(self.predict_raw(x, base)) + intercept
        return np.clip(1.0 / (1.0 + np.exp(-z)), 0.001, 0.999)

    def contributions(self, x: np.ndarray) -> np.ndarray:
        """SHAP values (LightGBM ``pred_contrib``) in log-odds, one column per feature plus the bias."""
        return self.booster_.predict(x, pred_contrib=True)

    def to_dict(self) -> dict:
        return {
            "config": self.config.as_dict(),
            "features": self.features,
            "booster": self.booster_.model_to_string(),
            "calibration": list(self.calibration_),
        }

    @classmethod
    def from_dict(cls, d: dict) -> ChurnModel:
        return cls(
            config=BoosterConfig(**d["config"]),
            features=list(d["features"]),
            booster_=lgb.Booster(model_str=d["booster"]),
            calibration_=tuple(d["calibration"]),
        )
