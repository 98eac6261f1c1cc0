"""LightGBM fitting shared by the churn, CLV and purchase models: early stopping on out-of-time validation rows.
The early-stopped booster is what ships (no refit), so everything fitted on held-out rows after it holds for it."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import lightgbm as lgb
import numpy as np


@dataclass(frozen=True)
class BoosterConfig:
    """LightGBM settings; defaults are conservative for logs of any size (see README "Models")."""

    learning_rate: float = 0.05
    num_leaves: int = 15
    min_child_samples: int = 1000
    feature_fraction: float = 0.9
    bagging_fraction: float = 0.7
    lambda_l2: float = 1.0
    max_rounds: int = 2000
    early_stopping_rounds: int = 50
    threads: int = 0
    seed: int = 0

    def params(self, objective: str, **extra) -> dict:
        return {
            "objective": objective,
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_child_samples": self.min_child_samples,
            "feature_fraction": self.feature_fraction,
            "bagging_fraction": self.bagging_fraction,
            "bagging_freq": 1,
            "lambda_l2": self.lambda_l2,
            "num_threads": self.threads,
            "seed": self.seed,
            "deterministic": True,
            "verbosity": -1,
            **extra,
        }

    def as_dict(self) -> dict:
        return asdict(self)


def fit_early_stopped(
    params: dict,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    features: list[str],
    config: BoosterConfig,
    init_train: np.ndarray | None = None,
    init_val: np.ndarray | None = None,
    record: dict | None = None,
) -> lgb.Booster:
    """Train on ``train`` and stop when the metric on the later ``val`` rows stops improving. ``record``: filled with
    the learning curve, ``{metric: [value on the val rows after each iteration]}`` (every iteration run, including
    the ones after the best that early stopping discards)."""
    curves: dict = {}
    dtrain = lgb.Dataset(x_train, y_train, feature_name=features, init_score=init_train, free_raw_data=True)
    dval = lgb.Dataset(x_val, y_val, reference=dtrain, init_score=init_val, free_raw_data=True)
    booster = lgb.train(
        params,
        dtrain,
        num_boost_round=config.max_rounds,
        valid_sets=[dval],
        valid_names=["validation"],
        callbacks=[
            lgb.early_stopping(config.early_stopping_rounds, verbose=False),
            lgb.record_evaluation(curves),
        ],
    )
    if record is not None:
        record.clear()
        record.update({metric: list(values) for metric, values in curves.get("validation", {}).items()})
    return booster
