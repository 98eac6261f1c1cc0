"""What ships for each output: the model, the BTYD baseline or a blend of the two, chosen on held-out validation
customers by a proper score, so that the shipped forecast is never worse than the baseline where it was chosen.

A blend weight ``w`` mixes on the log scale: log-odds for churn, logs for spend and purchases (a geometric blend),
so ``w = 1`` is the model alone and ``w = 0`` the baseline exactly as it is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

WEIGHTS = tuple(round(w, 2) for w in np.linspace(0.0, 1.0, 11))
TWEEDIE_POWER = 1.5  # spend's objective and the score its blend is chosen by
FLOOR = 1e-3  # smallest forecast whose log is taken


@dataclass
class Choice:
    """The weight chosen and the score of each candidate on the validation customers it was chosen on."""

    weight: float = 1.0
    scores: dict[str, float] = field(default_factory=dict)  # "model", "baseline", "chosen"
    rows: int = 0

    @property
    def name(self) -> str:
        return "model" if self.weight == 1.0 else "baseline" if self.weight == 0.0 else "blend"

    def to_dict(self) -> dict:
        return {"weight": self.weight, "scores": self.scores, "rows": self.rows}

    @classmethod
    def from_dict(cls, d: dict) -> Choice:
        return cls(weight=float(d["weight"]), scores=dict(d.get("scores", {})), rows=int(d.get("rows", 0)))


def choose(score: Callable[[float], float], rows: int) -> Choice:
    """The weight of :data:`WEIGHTS` with the lowest score (ties go to the baseline side: the simpler forecast)."""
    scores = {w: float(score(w)) for w in WEIGHTS}
    best = min(WEIGHTS, key=lambda w: (scores[w], w))
    return Choice(
        weight=best, scores={"model": scores[1.0], "baseline": scores[0.0], "chosen": scores[best]}, rows=rows
    )


def log_loss(y: np.ndarray, logit: np.ndarray) -> float:
    """Mean binary log loss from log-odds (stable for large margins)."""
    y = np.asarray(y, dtype=float)
    return float(np.mean(np.logaddexp(0.0, logit) - y * logit))


def tweedie_deviance(y: np.ndarray, pred: np.ndarray, power: float = TWEEDIE_POWER) -> float:
    """Mean Tweedie deviance (1 < power < 2) of non-negative targets: the spend model's own loss."""
    y = np.maximum(np.asarray(y, dtype=float), 0.0)
    mu = np.maximum(np.asarray(pred, dtype=float), FLOOR)
    a = np.power(y, 2 - power) / ((1 - power) * (2 - power))
    b = y * np.power(mu, 1 - power) / (1 - power)
    c = np.power(mu, 2 - power) / (2 - power)
    return float(np.mean(2 * (a - b + c)))


def poisson_deviance(y: np.ndarray, pred: np.ndarray) -> float:
    """Mean Poisson deviance of non-negative counts: the purchases model's own loss."""
    y = np.maximum(np.asarray(y, dtype=float), 0.0)
    mu = np.maximum(np.asarray(pred, dtype=float), FLOOR)
    term = np.where(y > 0, y * np.log(np.where(y > 0, y, 1.0) / mu), 0.0)
    return float(np.mean(2 * (term - (y - mu))))
