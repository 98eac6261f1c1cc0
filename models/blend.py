"""What ships for each output: the model, the BTYD baseline or a blend of the two, chosen on held-out validation
customers by a proper score, so that the shipped forecast is never worse than the baseline where it was chosen, and
moves away from the baseline only for a gain beyond noise there.

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


def choose(row_loss: Callable[[float], np.ndarray]) -> Choice:
    """The weight of :data:`WEIGHTS` with the lowest mean loss, if it beats the baseline (``w = 0``) beyond noise:
    by more than two standard errors of the per-row loss differences (paired). Otherwise the baseline, as is."""
    losses = {w: np.asarray(row_loss(w), dtype=float) for w in WEIGHTS}
    scores = {w: float(v.mean()) for w, v in losses.items()}
    best = min(WEIGHTS, key=lambda w: (scores[w], w))
    gain = losses[0.0] - losses[best]
    n = gain.size
    noise = 2.0 * float(gain.std(ddof=1)) / np.sqrt(n) if n > 1 else np.inf
    if not gain.mean() > noise:
        best = 0.0
    return Choice(weight=best, scores={"model": scores[1.0], "baseline": scores[0.0], "chosen": scores[best]}, rows=n)


def log_loss(y: np.ndarray, logit: np.ndarray) -> np.ndarray:
    """Binary log loss per row from log-odds (stable for large margins)."""
    y = np.asarray(y, dtype=float)
    return np.logaddexp(0.0, logit) - y * logit


def tweedie_deviance(y: np.ndarray, pred: np.ndarray, power: float = TWEEDIE_POWER) -> np.ndarray:
    """Tweedie deviance per row (1 < power < 2) of non-negative targets: the spend model's own loss."""
    y = np.maximum(np.asarray(y, dtype=float), 0.0)
    mu = np.maximum(np.asarray(pred, dtype=float), FLOOR)
    a = np.power(y, 2 - power) / ((1 - power) * (2 - power))
    b = y * np.power(mu, 1 - power) / (1 - power)
    c = np.power(mu, 2 - power) / (2 - power)
    return 2 * (a - b + c)


def poisson_deviance(y: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """Poisson deviance per row of non-negative counts: the purchases model's own loss."""
    y = np.maximum(np.asarray(y, dtype=float), 0.0)
    mu = np.maximum(np.asarray(pred, dtype=float), FLOOR)
    term = np.where(y > 0, y * np.log(np.where(y > 0, y, 1.0) / mu), 0.0)
    return 2 * (term - (y - mu))
