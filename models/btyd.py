"""Buy-till-you-die baseline: BG/NBD for purchase counts and Gamma-Gamma for spend per purchase, in numpy/scipy.

BG/NBD (Fader, Hardie & Lee 2005, "Counting your customers the easy way"): while alive a customer buys as a
Poisson process with rate lambda ~ Gamma(r, alpha); after each repeat purchase they drop out with probability
p ~ Beta(a, b). Data per customer: ``frequency`` x (repeat purchases), ``recency`` t_x (first to last purchase) and
``T`` (first purchase to the end of the observation period), in any time unit (days here).

Gamma-Gamma (Fader & Hardie 2013, "The Gamma-Gamma model of monetary value"): a customer's purchase values are
Gamma(p, nu) with nu ~ Gamma(q, v); fitted on the mean repeat spend m of customers with x > 0 and m > 0.

Fits maximise the published log-likelihoods with L-BFGS-B on log-parameters and analytic gradients, after
compressing identical rows into weighted unique rows and rescaling time (or money) to a unit of order 1. The
``penalizer`` adds ``penalizer * sum(log(shape) ** 2)`` to the mean negative log-likelihood per customer, on the
shape parameters only (r, a, b; p, q): it stops them running off to infinity on degenerate data, and unlike an L2
penalty on the raw values it does not depend on the time or money unit (alpha and v simply rescale with the unit).
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass

import numpy as np
from scipy.optimize import minimize
from scipy.special import betaincinv, digamma, expit, gammaln, hyp2f1

LOG_BOUND = 15.0  # log-parameters stay in [-15, 15] during fitting (exp(15) ~ 3.3e6)
QUAD_NODES = 64  # Gauss-Legendre nodes of the fallback quadrature for eqs. 9-10
QUAD_CHUNK = 8192  # rows per block of that quadrature
A_GAP = 1e-4  # relative half-width of the bands around singular a where eqs. 9-10 are interpolated


@dataclass(frozen=True)
class BGNBDParams:
    """BG/NBD parameters: purchase rate lambda ~ Gamma(r, alpha), dropout probability p ~ Beta(a, b)."""

    r: float
    alpha: float
    a: float
    b: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


@dataclass(frozen=True)
class GammaGammaParams:
    """Gamma-Gamma parameters: purchase values ~ Gamma(p, nu) per customer, nu ~ Gamma(q, v)."""

    p: float
    q: float
    v: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


# ---------------------------------------------------------------------------------------------------- input checks


def _floats(name: str, values) -> np.ndarray:
    """A finite float array, or ValueError naming the input."""
    arr = np.asarray(values, dtype=float)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} has NaN or infinite values")
    return arr


def _check_frequency(x: np.ndarray) -> None:
    if np.any(x < 0) or np.any(x != np.floor(x)):
        raise ValueError("frequency must hold non-negative whole numbers (repeat purchases)")


def _rft(frequency, recency, T, allow_empty: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validated (x, t_x, T) float arrays broadcast to one shape."""
    x, tx, t_end = np.broadcast_arrays(_floats("frequency", frequency), _floats("recency", recency), _floats("T", T))
    if x.size == 0 and not allow_empty:
        raise ValueError("no customers: frequency, recency and T are empty")
    _check_frequency(x)
    if np.any(tx < 0) or np.any(t_end < 0):
        raise ValueError("recency and T must be non-negative")
    if np.any(tx > t_end):
        raise ValueError(f"recency > T for {int(np.sum(tx > t_end))} customer(s): the last purchase is after the end")
    return x, tx, t_end


def _minimize(objective, theta0: np.ndarray, args: tuple, what: str) -> np.ndarray:
    """L-BFGS-B on log-parameters with an objective returning (value, gradient)."""
    res = minimize(
        objective, theta0, args=args, jac=True, method="L-BFGS-B", bounds=[(-LOG_BOUND, LOG_BOUND)] * len(theta0)
    )
    if not np.all(np.isfinite(res.x)) or not np.isfinite(res.fun):
        raise RuntimeError(f"{what} fit diverged: {res.message}")
    if not res.success:
        warnings.warn(f"{what} fit may not have converged: {res.message}", RuntimeWarning, stacklevel=3)
    return res.x


# ---------------------------------------------------------------------------------------------------------- BG/NBD


def _log_dropout_term(r, alpha, a, b, x, tx) -> np.ndarray:
    """ln[a / (b + x - 1) * (alpha + t_x)^-(r + x)] where x > 0, -inf where x == 0 (no dropout is possible)."""
    pos = x > 0
    bx1 = np.where(pos, b + x - 1, 1.0)
    return np.where(pos, np.log(a) - np.log(bx1) - (r + x) * np.log(alpha + tx), -np.inf)


def bgnbd_log_likelihood(params: BGNBDParams, frequency, recency, T) -> np.ndarray:
    """Per-customer BG/NBD log-likelihood (FHL 2005, eq. 6), with the final sum done by logaddexp."""
    x, tx, t_end = _rft(frequency, recency, T)
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    head = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    head += gammaln(a + b) + gammaln(b + x) - gammaln(b) - gammaln(a + b + x)
    return head + np.logaddexp(-(r + x) * np.log(alpha + t_end), _log_dropout_term(r, alpha, a, b, x, tx))


def _bgnbd_objective(theta, xs, wx, x, tx, t_end, w, penalizer):
    """Mean negative log-likelihood per customer and its gradient in log-parameters (rows weighted by w).

    Terms in x only are summed over the unique x values ``xs`` (weights ``wx``); the rest over unique rows."""
    r, alpha, a, b = np.exp(theta)
    n = w.sum()
    head = gammaln(r + xs) - gammaln(r) + gammaln(a + b) + gammaln(b + xs) - gammaln(b) - gammaln(a + b + xs)
    d_head_a = digamma(a + b) - digamma(a + b + xs)
    d_head_b = d_head_a + digamma(b + xs) - digamma(b)
    log_at, log_atx = np.log(alpha + t_end), np.log(alpha + tx)
    alive = -(r + x) * log_at
    dropped = _log_dropout_term(r, alpha, a, b, x, tx)
    tail = np.logaddexp(alive, dropped)
    s = np.exp(dropped - tail)  # share of the "dropped out right after t_x" branch
    ll = (wx @ head + n * r * np.log(alpha) + w @ tail) / n
    grad = np.array(
        [
            wx @ (digamma(r + xs) - digamma(r)) + n * np.log(alpha) - w @ ((1 - s) * log_at + s * log_atx),
            n * r / alpha - w @ ((r + x) * ((1 - s) / (alpha + t_end) + s / (alpha + tx))),
            wx @ d_head_a + w @ s / a,
            wx @ d_head_b - w @ (s / np.where(x > 0, b + x - 1, 1.0)),
        ]
    )
    grad *= np.array([r, alpha, a, b]) / n  # chain rule to log-parameters, per customer
    shape = theta * np.array([1.0, 0.0, 1.0, 1.0])  # penalise ln r, ln a, ln b; not ln alpha (unit-dependent)
    return -ll + penalizer * shape @ shape, -grad + 2 * penalizer * shape


def fit_bgnbd(frequency, recency, T, penalizer: float = 0.0) -> BGNBDParams:
    """Maximum-likelihood BG/NBD parameters; identical (x, t_x, T) rows are fitted once with their count as weight."""
    x, tx, t_end = _rft(frequency, recency, T, allow_empty=False)
    tx = np.where(x > 0, tx, 0.0)  # t_x is irrelevant without repeats: more rows compress
    rows, w = np.unique(np.column_stack([x.ravel(), tx.ravel(), t_end.ravel()]), axis=0, return_counts=True)
    unit = float(np.average(rows[:, 2], weights=w)) or 1.0  # time in units of the mean T: alpha starts near 1
    xs, inv = np.unique(rows[:, 0], return_inverse=True)
    wx = np.bincount(inv.ravel(), weights=w)
    args = (xs, wx, rows[:, 0], rows[:, 1] / unit, rows[:, 2] / unit, w.astype(float), float(penalizer))
    r, alpha, a, b = np.exp(_minimize(_bgnbd_objective, np.zeros(4), args, "BG/NBD"))
    return BGNBDParams(r=float(r), alpha=float(alpha * unit), a=float(a), b=float(b))


def bgnbd_p_alive(params: BGNBDParams, frequency, recency, T) -> np.ndarray:
    """P(still alive at T | x, t_x, T): exactly 1 without repeat purchases, since dropout follows a purchase."""
    x, tx, t_end = _rft(frequency, recency, T)
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    log_odds_dead = _log_dropout_term(r, alpha, a, b, x, tx) + (r + x) * np.log(alpha + t_end)
    return expit(-log_odds_dead)


def _regular_in_a(fn, r: float, a: float):
    """fn(a) for eqs. 9-10, except near the a where they can't be evaluated directly: a = 1 (a removable 0/0) and
    r - a an integer (scipy's hyp2f1 is inaccurate or NaN for an integer c - a - b near z = 1). There fn is
    interpolated linearly between the nearest regular a on either side, A_GAP * min(a, 1) apart (error O(gap^2)).

    Both equations hold for a < 1 as well (analytic continuation: the expectation is finite for every a > 0)."""
    gap = A_GAP * min(a, 1.0)

    def singular(v: float) -> bool:
        return abs(v - 1.0) < gap or abs(r - v - round(r - v)) < gap

    if not singular(a):
        return fn(a)
    lo, hi = a - gap, a + gap
    while singular(lo):
        lo -= gap
    while singular(hi):
        hi += gap
    return fn(lo) + (a - lo) / (hi - lo) * (fn(hi) - fn(lo))


def _nonnegative_t(t) -> np.ndarray:
    t = _floats("t", t)
    if np.any(t < 0):
        raise ValueError("t (the horizon) must be non-negative")
    return t


def _expected_if_alive(params: BGNBDParams, t, x, t_end) -> np.ndarray:
    """E[purchases in (T, T + t] | alive at T, x, T]: eq. 10 without its P(alive) factor (eq. 9 when x = T = 0).

    The hypergeometric term is taken in whichever of its two Euler-related forms stays bounded as z -> 1:
    u^(r+x) 2F1(r+x, b+x; a+b+x-1; z) = u^(a-1) 2F1(a+b-1-r, a-1; a+b+x-1; z), u = 1 - z = (alpha+T)/(alpha+T+t).
    Where scipy's hyp2f1 still fails (extreme parameters) the value comes from quadrature over the dropout
    probability instead; the result is kept within its bounds [0, E[rate | alive] * t]."""
    x, t_end, t = np.broadcast_arrays(np.asarray(x, dtype=float), np.asarray(t_end, dtype=float), t)
    r, alpha, b = params.r, params.alpha, params.b
    z = t / (alpha + t_end + t)

    def core(a: float) -> np.ndarray:
        euler = a - 1 < r + x
        power = np.where(euler, a - 1, r + x)
        f = hyp2f1(np.where(euler, a + b - 1 - r, r + x), np.where(euler, a - 1, b + x), a + b + x - 1, z)
        return (a + b + x - 1) / (a - 1) * (1 - (1 - z) ** power * f)

    with np.errstate(all="ignore"):
        value = np.asarray(_regular_in_a(core, r, params.a), dtype=float)
    bound = (r + x) * t / (alpha + t_end)
    bad = ~np.isfinite(value) | (value < -1e-9 * bound) | (value > (1 + 1e-9) * bound)
    if np.any(bad):
        value = value.copy()
        value[bad] = _expected_if_alive_by_quadrature(params, t[bad], x[bad], t_end[bad])
    return np.clip(value, 0.0, bound)


def _expected_if_alive_by_quadrature(params: BGNBDParams, t, x, t_end) -> np.ndarray:
    """The same expectation as E_p[(1 - (1 + p k)^-(r+x)) / p], k = t / (alpha + T), p ~ Beta(a, b + x): a bounded
    integrand, integrated by Gauss-Legendre over the Beta quantile. A last resort where hyp2f1 fails: always finite,
    but less exact (about 1e-6 relative for a concentrated Beta, percents for a very spread-out one)."""
    keys, inverse = np.unique(np.column_stack([x, t / (params.alpha + t_end)]), axis=0, return_inverse=True)
    nodes, weights = np.polynomial.legendre.leggauss(QUAD_NODES)
    out = np.empty(len(keys))
    for start in range(0, len(keys), QUAD_CHUNK):  # bounded memory: QUAD_CHUNK x QUAD_NODES at a time
        xs, k = (col[:, None] for col in keys[start : start + QUAD_CHUNK].T)
        p = betaincinv(params.a, params.b + xs, (nodes + 1) / 2)
        with np.errstate(all="ignore"):
            g = np.where(p > 0, -np.expm1(-(params.r + xs) * np.log1p(p * k)) / p, (params.r + xs) * k)
        out[start : start + QUAD_CHUNK] = g @ weights / 2
    return out[inverse.ravel()]


def bgnbd_expected_purchases(params: BGNBDParams, t, frequency, recency, T) -> np.ndarray:
    """E[purchases in (T, T + t] | x, t_x, T] (FHL 2005, eq. 10); ``t`` is a scalar or broadcasts with customers."""
    x, tx, t_end = _rft(frequency, recency, T)
    return _expected_if_alive(params, _nonnegative_t(t), x, t_end) * bgnbd_p_alive(params, x, tx, t_end)


def bgnbd_prob_no_purchase(params: BGNBDParams, t, frequency, recency, T) -> np.ndarray:
    """P(no purchase in (T, T + t] | x, t_x, T): dead, or alive with rate ~ Gamma(r + x, alpha + T) and no event."""
    x, tx, t_end = _rft(frequency, recency, T)
    t = _nonnegative_t(t)
    alive = bgnbd_p_alive(params, x, tx, t_end)
    no_event = np.exp((params.r + x) * (np.log(params.alpha + t_end) - np.log(params.alpha + t_end + t)))
    return (1 - alive) + alive * no_event


def bgnbd_unconditional_expected(params: BGNBDParams, t) -> np.ndarray:
    """E[X(t)], repeat purchases in (0, t] of a customer who just made a first purchase (FHL 2005, eq. 9):
    (a+b-1)/(a-1) [1 - (alpha/(alpha+t))^r 2F1(r, b; a+b-1; t/(alpha+t))], i.e. eq. 10 at x = T = 0."""
    return _expected_if_alive(params, _nonnegative_t(t), 0.0, 0.0)


def simulate_bgnbd_holdout(
    params: BGNBDParams, n: int, T, horizon, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """n customers drawn from the BG/NBD, each observed for T after a first purchase at 0, then ``horizon`` more.

    Returns (frequency, recency, T, purchases in (T, T + horizon]); T and horizon are scalars or length-n arrays."""
    t_end = np.broadcast_to(np.asarray(T, dtype=float), (n,)).copy()
    stop = t_end + np.broadcast_to(np.asarray(horizon, dtype=float), (n,))
    lam = rng.gamma(params.r, 1.0 / params.alpha, n)
    p = rng.beta(params.a, params.b, n)
    freq, rec, future, now = np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n)
    live = np.arange(n)
    while live.size:  # one repeat purchase per pass, for the customers still alive and inside their window
        with np.errstate(divide="ignore"):
            nxt = now[live] + rng.standard_exponential(live.size) / lam[live]
        inside = nxt <= stop[live]
        live, nxt = live[inside], nxt[inside]
        seen = nxt <= t_end[live]
        freq[live[seen]] += 1
        rec[live[seen]] = nxt[seen]
        future[live[~seen]] += 1
        now[live] = nxt
        live = live[rng.random(live.size) >= p[live]]  # dropout right after the purchase
    return freq, rec, t_end, future


def simulate_bgnbd(params: BGNBDParams, n: int, T, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """(frequency, recency, T) of n customers drawn from the BG/NBD, each observed for T after a first purchase."""
    return simulate_bgnbd_holdout(params, n, T, 0.0, rng)[:3]


# ----------------------------------------------------------------------------------------------------- Gamma-Gamma


def _xm(frequency, monetary_value) -> tuple[np.ndarray, np.ndarray]:
    """Validated (x, m) float arrays broadcast to one shape."""
    x, m = np.broadcast_arrays(_floats("frequency", frequency), _floats("monetary_value", monetary_value))
    _check_frequency(x)
    return x, m


def gg_log_likelihood(params: GammaGammaParams, frequency, monetary_value) -> np.ndarray:
    """Per-customer Gamma-Gamma log-likelihood of the mean spend m over x purchases (x > 0 and m > 0 only)."""
    x, m = _xm(frequency, monetary_value)
    if np.any(x <= 0) or np.any(m <= 0):
        raise ValueError("the Gamma-Gamma likelihood needs frequency > 0 and monetary_value > 0")
    p, q, v = params.p, params.q, params.v
    return (
        gammaln(p * x + q) - gammaln(p * x) - gammaln(q) + q * np.log(v)
        + (p * x - 1) * np.log(m) + p * x * np.log(x) - (p * x + q) * np.log(v + x * m)
    )  # fmt: skip


def _gg_objective(theta, x, m, w, penalizer):
    """Mean negative Gamma-Gamma log-likelihood per customer and its gradient in log-parameters."""
    p, q, v = np.exp(theta)
    n = w.sum()
    px = p * x
    log_vxm = np.log(v + x * m)
    ll = gammaln(px + q) - gammaln(px) - gammaln(q) + q * np.log(v) + (px - 1) * np.log(m) + px * np.log(x)
    ll -= (px + q) * log_vxm
    grad = np.array(
        [
            w @ (x * (digamma(px + q) - digamma(px) + np.log(m) + np.log(x) - log_vxm)),
            w @ (digamma(px + q) - digamma(q) + np.log(v) - log_vxm),
            w @ (q / v - (px + q) / (v + x * m)),
        ]
    )
    grad *= np.array([p, q, v]) / n  # chain rule to log-parameters, per customer
    shape = theta * np.array([1.0, 1.0, 0.0])  # penalise ln p, ln q; not ln v (unit-dependent)
    return -(w @ ll) / n + penalizer * shape @ shape, -grad + 2 * penalizer * shape


def fit_gamma_gamma(frequency, monetary_value, penalizer: float = 0.0) -> GammaGammaParams:
    """Maximum-likelihood Gamma-Gamma parameters from customers with x > 0 and m > 0 (the others are ignored)."""
    x, m = _xm(frequency, monetary_value)
    keep = (x > 0) & (m > 0)
    if not np.any(keep):
        raise ValueError("no customer with frequency > 0 and monetary_value > 0: Gamma-Gamma cannot be fitted")
    rows, w = np.unique(np.column_stack([x[keep], m[keep]]), axis=0, return_counts=True)
    unit = float(np.average(rows[:, 1], weights=w))  # money in units of the mean spend: v starts near 1
    theta0 = np.array([0.0, np.log(2.0), 0.0])  # p = 1, q = 2, v = 1: population mean spend p v / (q - 1) = 1 unit
    args = (rows[:, 0], rows[:, 1] / unit, w.astype(float), float(penalizer))
    p, q, v = np.exp(_minimize(_gg_objective, theta0, args, "Gamma-Gamma"))
    if q <= 1:
        warnings.warn(f"Gamma-Gamma q = {q:.3g} <= 1: the population mean spend is infinite", RuntimeWarning, 2)
    return GammaGammaParams(p=float(p), q=float(q), v=float(v * unit))


def gg_expected_spend(params: GammaGammaParams, frequency, monetary_value, fallback: float = 0.0) -> np.ndarray:
    """E[spend per purchase | x, m] = p (v + x m) / (p x + q - 1); the population mean p v / (q - 1) when x == 0.

    It is a weighted mean of the population mean and m, with weight (q - 1) / (p x + q - 1) on the population.
    A negative m (net returns) counts as 0. Where a mean is infinite (q <= 1, or p x + q <= 1) ``fallback`` is
    returned instead: pass an empirical mean spend there."""
    x, m = _xm(frequency, monetary_value)
    p, q, v = params.p, params.q, params.v
    population = p * v / (q - 1) if q > 1 else fallback
    denom = p * x + q - 1
    ok = (x > 0) & (denom > 0)
    conditional = p * (v + x * np.maximum(m, 0.0)) / np.where(ok, denom, 1.0)
    return np.where(ok, conditional, np.where(x > 0, fallback, population))


# ------------------------------------------------------------------------------------------------------- estimator


@dataclass
class BTYDBaseline:
    """BG/NBD + Gamma-Gamma in scikit-learn style: ``fit`` on a BTYD summary, ``predict`` over a horizon."""

    penalizer: float = 0.0
    bgnbd_: BGNBDParams | None = None  # set by fit
    gg_: GammaGammaParams | None = None  # None when nobody has a repeat purchase with positive spend
    fallback_spend_: float = 0.0  # mean of the positive monetary values (0 if none): spend when Gamma-Gamma can't say

    def fit(self, frequency, recency, T, monetary_value) -> BTYDBaseline:
        """Fit both models; the Gamma-Gamma part is skipped (``gg_ = None``) when no customer qualifies for it."""
        self.bgnbd_ = fit_bgnbd(frequency, recency, T, self.penalizer)
        x, m = _xm(frequency, monetary_value)
        positive = m[m > 0]
        self.fallback_spend_ = float(positive.mean()) if positive.size else 0.0
        try:
            self.gg_ = fit_gamma_gamma(x, m, self.penalizer)
        except ValueError:
            self.gg_ = None
        return self

    def predict(self, frequency, recency, T, monetary_value, horizon_days) -> dict[str, np.ndarray]:
        """Per-customer forecasts over ``horizon_days`` (a number or one per customer)."""
        if self.bgnbd_ is None:
            raise RuntimeError("BTYDBaseline is not fitted: call fit first")
        x, tx, t_end = _rft(frequency, recency, T)
        x, m = _xm(x, monetary_value)
        purchases = bgnbd_expected_purchases(self.bgnbd_, horizon_days, x, tx, t_end)
        if self.gg_ is None:
            spend = np.full(x.shape, self.fallback_spend_)
        else:
            spend = gg_expected_spend(self.gg_, x, m, fallback=self.fallback_spend_)
        return {
            "p_alive": bgnbd_p_alive(self.bgnbd_, x, tx, t_end),
            "prob_no_purchase": bgnbd_prob_no_purchase(self.bgnbd_, horizon_days, x, tx, t_end),
            "expected_purchases": purchases,
            "expected_spend": spend,
            "expected_value": purchases * spend,
        }
