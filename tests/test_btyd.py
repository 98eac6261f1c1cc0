"""BTYD baseline: likelihoods by hand, closed forms against quadrature and simulation, parameter recovery."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.integrate import quad
from scipy.special import betaln

from models.btyd import (
    BGNBDParams,
    BTYDBaseline,
    GammaGammaParams,
    bgnbd_expected_purchases,
    bgnbd_log_likelihood,
    bgnbd_p_alive,
    bgnbd_prob_no_purchase,
    bgnbd_unconditional_expected,
    fit_bgnbd,
    fit_gamma_gamma,
    gg_expected_spend,
    gg_log_likelihood,
    simulate_bgnbd,
    simulate_bgnbd_holdout,
)

TRUE = BGNBDParams(r=0.25, alpha=4.0, a=0.8, b=2.5)  # CDNOW-like shapes, time in days
GG_TRUE = GammaGammaParams(p=6.0, q=4.0, v=15.0)  # population mean spend p v / (q - 1) = 30
HAND = BGNBDParams(r=0.5, alpha=2.0, a=0.7, b=1.5)  # for the values worked out by hand
N = 20_000


@pytest.fixture(scope="module")
def simulated() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(2024)
    return simulate_bgnbd(TRUE, N, rng.uniform(30, 365, N), rng)


@pytest.fixture(scope="module")
def fitted(simulated) -> BGNBDParams:
    return fit_bgnbd(*simulated)


@pytest.fixture(scope="module")
def spend_sample() -> tuple[np.ndarray, np.ndarray]:
    """(x, m): x purchases per customer, each worth Gamma(p, rate nu), nu ~ Gamma(q, rate v); m their mean."""
    rng = np.random.default_rng(7)
    x = 1 + rng.poisson(3.0, N)
    nu = rng.gamma(GG_TRUE.q, 1 / GG_TRUE.v, N)
    owner = np.repeat(np.arange(N), x)
    values = rng.gamma(GG_TRUE.p, 1 / nu[owner])
    return x.astype(float), np.bincount(owner, weights=values) / x


def expected_by_quadrature(params: BGNBDParams, t: float, x: float, tx: float, T: float) -> float:
    """Eq. 10 without hyp2f1: alive at T, the rate is Gamma(r + x, alpha + T) and p is Beta(a, b + x), and a
    customer with rate lam and dropout p makes (1 - exp(-lam p t)) / p purchases in t on average."""
    s, k = params.r + x, t / (params.alpha + T)

    def per_p(p: float) -> float:
        return s * k if p == 0 else -math.expm1(-s * math.log1p(p * k)) / p

    wvar = (params.a - 1, params.b + x - 1)  # the Beta density's p^(a-1) (1-p)^(b+x-1), singular or not
    integral = quad(per_p, 0, 1, weight="alg", wvar=wvar, epsabs=0, epsrel=1e-11, limit=200)[0]
    return float(bgnbd_p_alive(params, x, tx, T)) * integral / math.exp(betaln(params.a, params.b + x))


# ------------------------------------------------------------------------------------------------ likelihoods


def test_bgnbd_log_likelihood_by_hand():
    r, alpha, a, b = 0.5, 2.0, 0.7, 1.5
    # x = 2, t_x = 5, T = 10
    head = math.lgamma(2.5) - math.lgamma(0.5) + 0.5 * math.log(2.0)
    head += math.lgamma(2.2) + math.lgamma(3.5) - math.lgamma(1.5) - math.lgamma(4.2)
    repeat = head + math.log(12**-2.5 + 0.7 / 2.5 * 7**-2.5)
    # x = 0, T = 10: only P(no purchase in 10 days) = (alpha / (alpha + T))^r is left
    none = 0.5 * math.log(2.0 / 12.0)
    got = bgnbd_log_likelihood(BGNBDParams(r, alpha, a, b), [2, 0], [5, 0], [10, 10])
    np.testing.assert_allclose(got, [repeat, none], rtol=1e-12)


def test_gamma_gamma_log_likelihood_by_hand():
    p, q, v, x, m = 6.0, 4.0, 15.0, 3.0, 20.0
    expected = (
        math.lgamma(22) - math.lgamma(18) - math.lgamma(4) + 4 * math.log(15)
        + 17 * math.log(20) + 18 * math.log(3) - 22 * math.log(15 + 60)
    )  # fmt: skip
    assert gg_log_likelihood(GammaGammaParams(p, q, v), [x], [m])[0] == pytest.approx(expected, rel=1e-12)


# ---------------------------------------------------------------------------------------------------- fitting


def test_fit_recovers_bgnbd_parameters(fitted):
    assert fitted.r == pytest.approx(TRUE.r, rel=0.10)
    assert fitted.alpha == pytest.approx(TRUE.alpha, rel=0.10)
    assert fitted.a == pytest.approx(TRUE.a, rel=0.20)
    assert fitted.b == pytest.approx(TRUE.b, rel=0.20)


def assert_maximum(params: BGNBDParams, data) -> None:
    best = bgnbd_log_likelihood(params, *data).sum()
    for name in ("r", "alpha", "a", "b"):
        for factor in (0.995, 1.005):
            moved = BGNBDParams(**(params.as_dict() | {name: getattr(params, name) * factor}))
            assert bgnbd_log_likelihood(moved, *data).sum() < best, (name, factor)


def test_fit_is_a_maximum_of_the_likelihood(simulated, fitted):
    assert_maximum(fitted, simulated)


def test_fit_on_whole_days_maximises_the_uncompressed_likelihood(simulated):
    days = tuple(np.floor(v) for v in simulated)  # many identical rows, fitted once each with a weight
    assert len(np.unique(np.column_stack(days), axis=0)) < 0.7 * N
    assert_maximum(fit_bgnbd(*days), days)


def test_fit_follows_the_time_unit(simulated, fitted):
    f, rec, T = simulated
    weeks = fit_bgnbd(f, rec / 7, T / 7)
    assert weeks.alpha == pytest.approx(fitted.alpha / 7, rel=1e-4)
    for name in ("r", "a", "b"):
        assert getattr(weeks, name) == pytest.approx(getattr(fitted, name), rel=1e-4)


def test_penalizer_pulls_shape_parameters_towards_one(simulated, fitted):
    penalised = fit_bgnbd(*simulated, penalizer=0.5)
    for name in ("r", "a", "b"):
        assert abs(math.log(getattr(penalised, name))) < abs(math.log(getattr(fitted, name))), name


def test_fit_recovers_gamma_gamma_parameters(spend_sample):
    fit = fit_gamma_gamma(*spend_sample)
    # p and v are weakly identified against each other; the mean spend they imply is not.
    assert fit.p * fit.v / (fit.q - 1) == pytest.approx(GG_TRUE.p * GG_TRUE.v / (GG_TRUE.q - 1), rel=0.03)
    assert fit.q == pytest.approx(GG_TRUE.q, rel=0.10)
    assert fit.p == pytest.approx(GG_TRUE.p, rel=0.30)
    assert fit.v == pytest.approx(GG_TRUE.v, rel=0.30)


def test_gamma_gamma_ignores_customers_without_repeat_spend(spend_sample):
    x, m = spend_sample
    padded = fit_gamma_gamma(np.r_[x, [0, 0, 2]], np.r_[m, [0.0, 50.0, -10.0]])
    assert padded == fit_gamma_gamma(x, m)


# ------------------------------------------------------------------------------------------ BG/NBD forecasts


@pytest.mark.parametrize("t", [30.0, 180.0])
def test_unconditional_expectation_matches_simulation(t):
    rng = np.random.default_rng(11)
    purchases, _, _ = simulate_bgnbd(TRUE, 100_000, t, rng)
    assert purchases.mean() == pytest.approx(float(bgnbd_unconditional_expected(TRUE, t)), rel=0.03)


@pytest.mark.parametrize("a", [0.6, 1.0, 1.7])
def test_expected_purchases_match_quadrature(a):
    params = BGNBDParams(r=0.25, alpha=4.0, a=a, b=2.5)
    for x, tx, T, t in [(0, 0, 0, 30), (0, 0, 200, 90), (1, 3, 40, 365), (4, 100, 300, 90), (150, 360, 365, 365)]:
        got = float(bgnbd_expected_purchases(params, t, x, tx, T))
        assert got == pytest.approx(expected_by_quadrature(params, t, x, tx, T), rel=1e-6), (x, tx, T, t)


@pytest.mark.parametrize("a", [0.6, 1.0, 1.7])
def test_conditional_expectation_at_birth_is_the_unconditional_one(a):
    params = BGNBDParams(r=0.25, alpha=4.0, a=a, b=2.5)
    t = np.array([1.0, 30.0, 365.0, 3650.0])
    np.testing.assert_allclose(
        bgnbd_expected_purchases(params, t, 0, 0, 0), bgnbd_unconditional_expected(params, t), rtol=1e-12
    )


def test_expected_purchases_are_finite_bounded_and_increasing_for_awkward_parameters():
    x = np.array([0, 0, 1, 5, 200, 2000.0])
    tx, T = np.array([0, 0, 1, 100, 300, 364.0]), np.array([0, 10, 1, 365, 365, 365.0])
    t = np.array([0.0, 1.0, 30.0, 365.0, 1e4, 1e7])[:, None]
    for params in [
        BGNBDParams(0.25, 4.0, 1.0, 2.5),  # a = 1: eqs. 9-10 are 0/0
        BGNBDParams(0.8, 4.0, 0.8, 2.5),  # r = a: scipy's hyp2f1 returns NaN near z = 1
        BGNBDParams(0.05, 0.01, 0.05, 0.5),
        BGNBDParams(300.0, 3000.0, 200.0, 5000.0),  # nearly homogeneous rates and dropout probabilities
        BGNBDParams(1e-6, 1e4, 1e-3, 1e-3),
    ]:
        e = bgnbd_expected_purchases(params, t, x, tx, T)
        assert np.all(np.isfinite(e)), params
        assert np.all(e >= 0) and np.all(e <= (params.r + x) * t / (params.alpha + T) + 1e-12), params
        assert np.all(np.diff(e, axis=0) >= -1e-5 * e[1:]), params  # 1e-5: the quadrature fallback
        assert np.all(np.isfinite(bgnbd_unconditional_expected(params, t))), params


def test_expected_purchases_are_continuous_across_a_equal_one():
    near = [bgnbd_expected_purchases(BGNBDParams(0.25, 4.0, a, 2.5), 90.0, 3, 50, 200) for a in (0.999, 1.0, 1.001)]
    assert near[0] > near[1] > near[2]
    assert near[1] == pytest.approx((near[0] + near[2]) / 2, rel=1e-5)


def test_p_alive():
    assert np.all(bgnbd_p_alive(TRUE, 0, 0, [0.0, 10.0, 1000.0]) == 1.0)
    by_age = bgnbd_p_alive(TRUE, 3, 20, [20.0, 50.0, 100.0, 400.0])
    assert by_age[0] < 1 and np.all(np.diff(by_age) < 0)
    # x = 2, t_x = 5, T = 10: 1 / (1 + a / (b + x - 1) * ((alpha + T) / (alpha + t_x))^(r + x))
    assert bgnbd_p_alive(HAND, 2, 5, 10) == pytest.approx(1 / (1 + 0.7 / 2.5 * (12 / 7) ** 2.5), rel=1e-12)


def test_prob_no_purchase_by_hand():
    alive = 1 / (1 + 0.7 / 2.5 * (12 / 7) ** 2.5)
    expected = (1 - alive) + alive * (12 / (12 + 30)) ** 2.5
    assert bgnbd_prob_no_purchase(HAND, 30, 2, 5, 10) == pytest.approx(expected, rel=1e-12)
    assert bgnbd_prob_no_purchase(HAND, 0, 2, 5, 10) == pytest.approx(1.0)


@pytest.fixture(scope="module")
def holdout() -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(99)
    return simulate_bgnbd_holdout(TRUE, N, rng.uniform(30, 365, N), 60.0, rng)


@pytest.mark.parametrize("group", ["all", "no repeats", "repeaters"])
def test_prob_no_purchase_matches_simulation(holdout, group):
    f, rec, T, future = holdout
    keep = {"all": f >= 0, "no repeats": f == 0, "repeaters": f > 0}[group]
    predicted = bgnbd_prob_no_purchase(TRUE, 60.0, f, rec, T)[keep]
    observed = (future[keep] == 0).astype(float)
    gap = predicted.mean() - observed.mean()
    assert abs(gap) < 0.02
    assert abs(gap) < 4 * (observed - predicted).std() / math.sqrt(keep.sum())


@pytest.mark.parametrize("group", ["all", "no repeats", "repeaters"])
def test_expected_purchases_match_simulation(holdout, group):
    f, rec, T, future = holdout
    keep = {"all": f >= 0, "no repeats": f == 0, "repeaters": f > 0}[group]
    predicted = bgnbd_expected_purchases(TRUE, 60.0, f, rec, T)[keep]
    gap = predicted.mean() - future[keep].mean()
    assert abs(gap) < 4 * (future[keep] - predicted).std() / math.sqrt(keep.sum())


def test_simulation_is_a_valid_summary(holdout):
    f, rec, T, future = holdout
    assert np.all(f == np.floor(f)) and np.all(future == np.floor(future))
    assert np.all(rec <= T) and np.all(rec[f == 0] == 0) and np.all(rec[f > 0] > 0)
    assert 0.2 < (f == 0).mean() < 0.6  # neither everyone nor nobody repeats at these parameters


# ---------------------------------------------------------------------------------------------------- spend


def test_gg_expected_spend():
    params = GammaGammaParams(p=6.0, q=4.0, v=15.0)
    got = gg_expected_spend(params, [0, 3, 3], [0.0, 20.0, -5.0])
    population = 6 * 15 / 3
    weight = 3 / (18 + 3)  # (q - 1) / (p x + q - 1) on the population mean, the rest on m
    np.testing.assert_allclose(got, [population, weight * population + (1 - weight) * 20, weight * population])
    heavy_tail = GammaGammaParams(p=0.05, q=0.9, v=15.0)  # q <= 1: infinite population mean; so at x = 1 (p + q <= 1)
    got = gg_expected_spend(heavy_tail, [0, 1, 3], [0, 10, 10], fallback=12.0)
    np.testing.assert_allclose(got, [12, 12, 0.05 * (15 + 30) / (0.15 + 0.9 - 1)])


# ------------------------------------------------------------------------------------------------ estimator


def test_baseline_fit_and_predict(simulated, spend_sample):
    f, rec, T = simulated
    m = np.where(f > 0, spend_sample[1], 0.0)
    model = BTYDBaseline(penalizer=0.001).fit(f, rec, T, m)
    horizon = np.where(np.arange(N) % 2, 30.0, 90.0)  # one horizon per customer
    out = model.predict(f, rec, T, m, horizon)
    assert set(out) == {"p_alive", "prob_no_purchase", "expected_purchases", "expected_spend", "expected_value"}
    assert all(v.shape == (N,) and np.all(np.isfinite(v)) for v in out.values())
    np.testing.assert_allclose(out["expected_value"], out["expected_purchases"] * out["expected_spend"])
    np.testing.assert_allclose(out["expected_spend"], gg_expected_spend(model.gg_, f, m))
    np.testing.assert_allclose(out["expected_purchases"], bgnbd_expected_purchases(model.bgnbd_, horizon, f, rec, T))
    assert np.all(out["prob_no_purchase"] >= 1 - out["p_alive"] - 1e-12)
    assert BGNBDParams(**model.bgnbd_.as_dict()) == model.bgnbd_


def test_baseline_without_repeat_customers_falls_back_to_mean_spend():
    f, rec, T = np.zeros(50), np.zeros(50), np.linspace(0, 200, 50)
    model = BTYDBaseline().fit(f, rec, T, np.zeros(50))
    assert model.gg_ is None and model.fallback_spend_ == 0.0
    out = model.predict(f, rec, T, np.zeros(50), 90)
    assert all(np.all(np.isfinite(v)) for v in out.values())
    assert np.all(out["expected_value"] == 0) and np.all(out["p_alive"] == 1)
    first_spend = np.linspace(10, 30, 50)  # monetary values given for first purchases only: their mean is used
    model = BTYDBaseline().fit(f, rec, T, first_spend)
    assert model.predict(f, rec, T, first_spend, 90)["expected_spend"] == pytest.approx(np.full(50, 20.0))


def test_predict_before_fit_raises():
    with pytest.raises(RuntimeError, match="fit"):
        BTYDBaseline().predict([1], [1], [2], [10], 30)


# ---------------------------------------------------------------------------------------------------- input


@pytest.mark.parametrize(
    ("frequency", "recency", "T", "message"),
    [
        ([], [], [], "empty"),
        ([1, 2], [5, 12], [10, 10], "recency > T"),
        ([1, -1], [5, 0], [10, 10], "non-negative"),
        ([1, 1], [-5, 0], [10, 10], "non-negative"),
        ([1.5], [5], [10], "whole numbers"),
        ([1, np.nan], [5, 0], [10, 10], "NaN"),
    ],
)
def test_bad_bgnbd_input_raises(frequency, recency, T, message):
    with pytest.raises(ValueError, match=message):
        fit_bgnbd(frequency, recency, T)


def test_bad_horizon_and_spend_input_raise():
    with pytest.raises(ValueError, match="non-negative"):
        bgnbd_expected_purchases(TRUE, -1, 1, 1, 2)
    with pytest.raises(ValueError, match="recency > T"):
        bgnbd_p_alive(TRUE, 1, 3, 2)
    with pytest.raises(ValueError, match="Gamma-Gamma cannot be fitted"):
        fit_gamma_gamma([0, 0, 2], [0.0, 10.0, 0.0])
