"""Churn: P(no purchase in the horizon), a LightGBM classifier early-stopped and calibrated (isotonic) on a later
snapshot than it was fitted on."""

from __future__ import annotations

from dataclasses import dataclass, field

import lightgbm as lgb
import numpy as np
from sklearn.isotonic import IsotonicRegression

from models.boosting import BoosterConfig, fit_early_stopped, refit_all, rounds_for_refit


@dataclass
class ChurnModel:
    """Fit with :meth:`fit` (train + later validation rows), optionally :meth:`refit` on all rows."""

    config: BoosterConfig = field(default_factory=BoosterConfig)
    features: list[str] = field(default_factory=list)
    booster_: lgb.Booster | None = None
    calibration_x_: np.ndarray | None = None  # isotonic map: raw probability -> calibrated
    calibration_y_: np.ndarray | None = None

    def _params(self) -> dict:
        return self.config.params("binary", metric="binary_logloss")

    def fit(self, x_train, y_train, x_val, y_val, features: list[str]) -> ChurnModel:
        self.features = list(features)
        self.booster_ = fit_early_stopped(self._params(), x_train, y_train, x_val, y_val, self.features, self.config)
        iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
        iso.fit(self.booster_.predict(x_val), np.asarray(y_val, dtype=float))
        self.calibration_x_ = np.asarray(iso.X_thresholds_, dtype=float)
        self.calibration_y_ = np.asarray(iso.y_thresholds_, dtype=float)
        return self

    def refit(self, x, y, train_rows: int) -> ChurnModel:
        """Same settings and calibration, trained on every row (the final model)."""
        rounds = rounds_for_refit(self.booster_, train_rows, len(y))
        self.booster_ = refit_all(self._params(), x, y, self.features, rounds)
        return self

    def predict_raw(self, x: np.ndarray) -> np.ndarray:
        return self.booster_.predict(x, num_threads=1) if len(x) < 64 else self.booster_.predict(x)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Calibrated churn probability per row, kept inside (0.001, 0.999) so log loss stays finite."""
        raw = self.predict_raw(x)
        return np.clip(np.interp(raw, self.calibration_x_, self.calibration_y_), 0.001, 0.999)

    def contributions(self, x: np.ndarray) -> np.ndarray:
        """SHAP values (LightGBM ``pred_contrib``) in log-odds, one column per feature plus the bias."""
        return self.booster_.predict(x, pred_contrib=True)

    def to_dict(self) -> dict:
        return {
            "config": self.config.as_dict(),
            "features": self.features,
            "booster": self.booster_.model_to_string(),
            "calibration_x": self.calibration_x_.tolist(),
            "calibration_y": self.calibration_y_.tolist(),
        }

    @classmethod
    def from_dict(cls, d: dict) -> ChurnModel:
        return cls(
            config=BoosterConfig(**d["config"]),
            features=list(d["features"]),
            booster_=lgb.Booster(model_str=d["booster"]),
            calibration_x_=np.asarray(d["calibration_x"], dtype=float),
            calibration_y_=np.asarray(d["calibration_y"], dtype=float),
        )
