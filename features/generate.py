"""A seeded, vectorised generator of realistic purchase logs with known per-customer truth.

The core is BG/NBD-like (Gamma-distributed purchase rates, Beta-distributed dropout after each repeat purchase)
with Gamma-Gamma spend; on top of it come what real logs have and that model lacks: seasonality, cohorts that
differ in activity and spend, one-and-done buyers, returns, and several orders on one day. The truth file keeps
every latent quantity, so :func:`oracle_expected` gives the best possible forecast over any window, and
:func:`rates_oracle` the best one for a forecaster that knows each customer's rates but not whether they are alive.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from features.errors import InputError
from features.io import atomic_file
from features.progress import ProgressFn


@dataclass(frozen=True)
class GeneratorConfig:
    """Population parameters; rates are per day, spend in currency units."""

    customers: int = 10_000
    start: dt.date = dt.date(2022, 1, 1)
    end: dt.date = dt.date(2025, 1, 1)
    seed: int = 42
    id_prefix: str = "C"  # customer ids are the prefix and a zero-padded number
    rate_shape: float = 0.75  # purchase rate ~ Gamma(shape, 1 / rate_inv_scale)
    rate_inv_scale: float = 60.0
    dropout_a: float = 0.9  # dropout after each repeat purchase ~ Beta(a, b)
    dropout_b: float = 5.0
    one_and_done: float = 0.25  # share who never buy again (outside BG/NBD)
    spend_p: float = 4.0  # Gamma-Gamma: day value ~ Gamma(p, nu), nu ~ Gamma(q, gamma)
    spend_q: float = 3.5
    spend_gamma: float = 120.0
    season_amplitude: float = 0.35  # purchase intensity 1 + A cos(2 pi (doy - peak) / 365.25)
    season_peak_doy: int = 345
    cohort_rate_drift: float = -0.35  # later cohorts buy less often: rate x exp(drift x position in [0, 1])
    cohort_spend_drift: float = 0.25  # and spend more: mean spend x exp(drift x position)
    extra_orders_mean: float = 0.15  # orders on a purchase day = 1 + Poisson(mean)
    return_prob: float = 0.06  # an order is partly or wholly returned 1-30 days later
    return_fraction: tuple[float, float] = (0.3, 1.0)
    # None: a growing business, first purchases spread over the whole log (more of them later); a number: one
    # acquisition cohort, every first purchase uniform in the log's first ``acquisition_days`` days.
    acquisition_days: int | None = None

    def __post_init__(self) -> None:
        if self.customers < 1:
            raise InputError("customers must be at least 1")
        if self.end <= self.start:
            raise InputError(f"end {self.end} must be after start {self.start}")
        if self.acquisition_days is not None:
            span = (self.end - self.start).days
            days = self.acquisition_days
            if isinstance(days, bool) or not isinstance(days, int | np.integer) or not 1 <= days <= span:
                raise InputError(
                    f"acquisition_days must be a whole number of days from 1 to the log's {span} days "
                    f"({self.start} to {self.end}), got {days!r}"
                )


def _season(cfg: GeneratorConfig, days: np.ndarray) -> np.ndarray:
    doy = np.array([(cfg.start + dt.timedelta(days=int(d))).timetuple().tm_yday for d in days])
    return 1.0 + cfg.season_amplitude * np.cos(2 * np.pi * (doy - cfg.season_peak_doy) / 365.25)


def cumulative_intensity(cfg: GeneratorConfig, until: dt.date) -> tuple[np.ndarray, np.ndarray]:
    """Seasonal clock Lambda(t) on a daily grid from ``start``: (day offsets, cumulative intensity)."""
    n = max((until - cfg.start).days, 1)
    grid = np.arange(n + 1, dtype=float)
    season = _season(cfg, np.arange(n))
    return grid, np.concatenate([[0.0], np.cumsum(season)])


def generate(cfg: GeneratorConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Simulate ``(transactions, truth)``; transactions have customer_id, order_id, date, amount, cost."""
    rng = np.random.default_rng(cfg.seed)
    n = cfg.customers
    span = (cfg.end - cfg.start).days
    grid, clock = cumulative_intensity(cfg, cfg.end)

    # Acquisition: a growing business, more customers join later (or one cohort in the first acquisition_days);
    # position in [0, 1] within the acquisition period drives cohort effects.
    if cfg.acquisition_days is None:
        position = np.sqrt(rng.random(n))
        acquired = position * (span - 1)
    else:
        position = rng.random(n)
        acquired = position * cfg.acquisition_days
    rate = rng.gamma(cfg.rate_shape, 1.0 / cfg.rate_inv_scale, n) * np.exp(cfg.cohort_rate_drift * position)
    dropout = rng.beta(cfg.dropout_a, cfg.dropout_b, n)
    once = rng.random(n) < cfg.one_and_done
    nu = rng.gamma(cfg.spend_q, 1.0 / cfg.spend_gamma, n)
    mean_spend = cfg.spend_p / nu * np.exp(cfg.cohort_spend_drift * position)
    cost_ratio = rng.beta(12, 8, n)

    # Repeat purchases: N events of a Poisson process on the seasonal clock, cut at R (dropout after the R-th).
    clock_at_acq = np.interp(acquired, grid, clock)
    exposure = rate * (clock[-1] - clock_at_acq)
    events = rng.poisson(exposure)
    lifetime = np.where(once, 0, rng.geometric(dropout))
    k = np.minimum(events, lifetime)
    alive_at_end = events < lifetime
    owner = np.repeat(np.arange(n), k)
    # The first k of N uniform order statistics: cumulative exponential spacings over S_{N+1}.
    spacing = rng.exponential(size=owner.size)
    padded = np.concatenate([[0.0], np.cumsum(spacing)])
    starts = np.concatenate([[0], np.cumsum(k)[:-1]])
    s_j = padded[1:] - np.repeat(padded[starts], k)
    s_k = padded[starts + k] - padded[starts]
    total = s_k + rng.gamma(np.maximum(events - k + 1, 1e-12), 1.0)
    u = s_j / total[owner]
    op_time = clock_at_acq[owner] + u * (clock[-1] - clock_at_acq[owner])
    repeat_day = np.floor(np.interp(op_time, clock, grid)).astype(np.int64)

    purchase_owner = np.concatenate([np.arange(n), owner])
    purchase_day = np.concatenate([np.floor(acquired).astype(np.int64), np.minimum(repeat_day, span - 1)])
    last_day = np.full(n, -1)
    np.maximum.at(last_day, purchase_owner, purchase_day)
    dropout_day = np.where(alive_at_end, -1, last_day)

    # Orders: one or more per purchase event, the day's value (Gamma-Gamma) split among them.
    day_value = rng.gamma(cfg.spend_p, 1.0, purchase_owner.size) * mean_spend[purchase_owner] / cfg.spend_p
    n_orders = 1 + rng.poisson(cfg.extra_orders_mean, purchase_owner.size)
    o_event = np.repeat(np.arange(purchase_owner.size), n_orders)
    weights = rng.gamma(1.0, 1.0, o_event.size)
    weights /= np.bincount(o_event, weights)[o_event]
    o_owner = purchase_owner[o_event]
    o_day = purchase_day[o_event]
    o_amount = np.maximum(np.round(day_value[o_event] * weights, 2), 0.01)
    o_id = np.arange(o_event.size)

    returned = rng.random(o_event.size) < cfg.return_prob
    r_day = o_day[returned] + rng.integers(1, 31, returned.sum())
    keep = r_day < span
    lo, hi = cfg.return_fraction
    r_amount = -np.round(o_amount[returned][keep] * rng.uniform(lo, hi, keep.sum()), 2)

    owners = np.concatenate([o_owner, o_owner[returned][keep]])
    days = np.concatenate([o_day, r_day[keep]])
    amounts = np.concatenate([o_amount, r_amount])
    order_ids = np.concatenate([o_id, o_id[returned][keep]])
    seconds = rng.integers(8 * 3600, 22 * 3600, owners.size)
    base = np.datetime64(cfg.start, "s")
    stamps = base + days.astype("timedelta64[D]") + seconds.astype("timedelta64[s]")
    order = np.argsort(stamps, kind="stable")
    width = len(str(n))
    ids = np.char.add(cfg.id_prefix, np.char.zfill(np.arange(n).astype(str), width))
    tx = pd.DataFrame(
        {
            "customer_id": ids[owners[order]],
            "order_id": np.char.add("O", order_ids[order].astype(str)),
            "date": stamps[order],
            "amount": amounts[order],
            "cost": np.round(amounts[order] * cost_ratio[owners[order]], 2),
        }
    )
    start64 = np.datetime64(cfg.start, "D")
    truth = pd.DataFrame(
        {
            "customer_id": ids,
            "first_purchase": start64 + np.floor(acquired).astype("timedelta64[D]"),
            "purchase_rate": rate,
            "dropout_prob": dropout,
            "one_and_done": once,
            "mean_spend": mean_spend,
            "cost_ratio": cost_ratio,
            "alive_at_end": alive_at_end,
            "dropout_day": np.where(
                dropout_day >= 0, start64 + dropout_day.astype("timedelta64[D]"), np.datetime64("NaT")
            ),
        }
    )
    return tx, truth


def write_generated(cfg: GeneratorConfig, out: Path, progress: ProgressFn | None = None) -> dict[str, Path]:
    """Generate and write ``transactions.parquet``, ``truth.parquet`` and ``generator.json`` into ``out``;
    ``progress(step, done, total)`` hears of each of the three steps."""
    say = progress or (lambda _step, _done, _total: None)
    say("simulating customers", 0, 3)
    tx, truth = generate(cfg)
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "transactions": out / "transactions.parquet",
        "truth": out / "truth.parquet",
        "config": out / "generator.json",
    }
    for done, (key, frame) in enumerate((("transactions", tx), ("truth", truth)), start=1):
        say(f"writing {len(frame):,} rows of {key}", done, 3)
        with atomic_file(paths[key]) as tmp:
            pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), tmp)
    with atomic_file(paths["config"]) as tmp:
        tmp.write_text(json.dumps(asdict(cfg), default=str, indent=2))
    say("done", 3, 3)
    return paths


def load_config(path: Path) -> GeneratorConfig:
    """Read ``generator.json`` back into a config."""
    raw = json.loads(Path(path).read_text())
    raw["start"] = dt.date.fromisoformat(raw["start"])
    raw["end"] = dt.date.fromisoformat(raw["end"])
    raw["return_fraction"] = tuple(raw["return_fraction"])
    return GeneratorConfig(**raw)


def expected_min_geometric_poisson(p: np.ndarray, mu: np.ndarray, tol: float = 1e-12) -> np.ndarray:
    """E[min(G, N)] with G ~ Geometric(p) on {1, 2, ...} and N ~ Poisson(mu): sum_k (1-p)^(k-1) P(N >= k)."""
    p = np.asarray(p, dtype=float)
    mu = np.asarray(mu, dtype=float)
    pmf = np.exp(-mu)  # P(N = 0)
    sf = 1.0 - pmf  # P(N >= 1)
    survive = np.ones_like(p)  # (1 - p)^(k - 1)
    total = np.zeros_like(p)
    k = 1
    while True:
        term = survive * sf
        total += term
        if term.max(initial=0.0) < tol:
            return total
        pmf = pmf * mu / k  # P(N = k)
        sf = np.maximum(sf - pmf, 0.0)  # P(N >= k + 1)
        survive = survive * (1 - p)
        k += 1


def _kept_share(cfg: GeneratorConfig) -> float:
    """The expected share of spend not returned: returns hit ``return_prob`` of orders, a uniform fraction of each."""
    lo, hi = cfg.return_fraction
    return 1 - cfg.return_prob * (lo + hi) / 2


def oracle_expected(truth: pd.DataFrame, cfg: GeneratorConfig, as_of: dt.date, horizon_days: int) -> pd.DataFrame:
    """The best forecast knowing every latent quantity: alive at ``as_of``, rate, dropout and mean spend.

    Returns customer_id, alive, expected_purchases, prob_no_purchase and expected_spend (net of returns) over
    ``[as_of, as_of + horizon_days)`` for customers whose first purchase is before ``as_of``.
    """
    if as_of > cfg.end:
        raise InputError(f"the truth describes customers up to {cfg.end}; as_of {as_of} is later")
    t = truth[truth["first_purchase"] < pd.Timestamp(as_of)]
    dropped = t["dropout_day"].notna() & (t["dropout_day"] < pd.Timestamp(as_of))
    alive = ~dropped.to_numpy() & ~t["one_and_done"].to_numpy()
    grid, clock = cumulative_intensity(cfg, as_of + dt.timedelta(days=horizon_days))
    a = (as_of - cfg.start).days
    mu = t["purchase_rate"].to_numpy() * (clock[a + horizon_days] - clock[a])
    purchases = expected_min_geometric_poisson(t["dropout_prob"].to_numpy(), mu) * alive
    # Alive customers drop out only right after a purchase, so none in the window iff no Poisson event.
    no_purchase = np.where(alive, np.exp(-mu), 1.0)
    kept = _kept_share(cfg)
    return pd.DataFrame(
        {
            "customer_id": t["customer_id"].to_numpy(),
            "alive": alive,
            "expected_purchases": purchases,
            "prob_no_purchase": no_purchase,
            "expected_spend": purchases * t["mean_spend"].to_numpy() * kept,
        }
    )


def rates_oracle(
    truth: pd.DataFrame, cfg: GeneratorConfig, as_of: dt.date, horizon_days: int, history: pd.DataFrame
) -> pd.DataFrame:
    """The best forecast knowing each customer's purchase rate, dropout probability and mean spend, but not whether
    they are still alive (nor whether they are a one-and-done buyer): that comes from their history before ``as_of``.

    ``history`` has customer_id, frequency (repeat purchase days), first_purchase and last_purchase, as
    ``features.build_features(log, as_of)`` gives them. In the generator a customer drops out right after the j-th
    repeat purchase with P(j) = (1-p)^(j-1) p, repeat purchases come at ``rate`` on the seasonal clock, and a
    one-and-done buyer (prior share ``cfg.one_and_done``) never repeats. With Delta the clock from the middle of the
    last purchase day to ``as_of``, a customer with x >= 1 repeat purchases is alive with probability
    (1-p) e^(-rate Delta) / ((1-p) e^(-rate Delta) + p): either the x-th purchase was the last, or the lifetime goes
    on and the Poisson process has been silent since. With x = 0, p is replaced by the one-and-done share. Once
    alive, the remaining lifetime is Geometric(p) again (memoryless).

    Returns the columns of :func:`oracle_expected`, in ``history``'s order; ``alive`` is P(alive) here.
    """
    if as_of > cfg.end:
        raise InputError(f"the truth describes customers up to {cfg.end}; as_of {as_of} is later")
    missing = {"customer_id", "frequency", "last_purchase"} - set(history.columns)
    if missing:
        raise InputError(f"history lacks column(s) {sorted(missing)}: pass features.build_features(log, as_of)")
    cols = ["customer_id", "purchase_rate", "dropout_prob", "mean_spend"]
    t = history[["customer_id", "frequency", "last_purchase"]].merge(truth[cols], on="customer_id", how="left")
    unknown = t["purchase_rate"].isna()
    if unknown.any():
        example = t["customer_id"][unknown].iloc[0]
        raise InputError(f"{int(unknown.sum())} customer(s) of the history are not in the truth, e.g. {example}")
    last = (pd.to_datetime(t["last_purchase"]) - pd.Timestamp(cfg.start)).dt.days.to_numpy(dtype=float)
    a = (as_of - cfg.start).days
    if (last >= a).any():
        raise InputError(f"history has purchases on or after as_of {as_of}: build it at as_of")
    grid, clock = cumulative_intensity(cfg, as_of + dt.timedelta(days=horizon_days))
    rate = t["purchase_rate"].to_numpy()
    p = t["dropout_prob"].to_numpy()
    delta = clock[a] - np.interp(last + 0.5, grid, clock)  # a purchase falls anywhere in its day: take the middle
    quit_now = np.where(t["frequency"].to_numpy() >= 1, p, cfg.one_and_done)
    silent = (1 - quit_now) * np.exp(-rate * delta)
    alive = silent / (silent + quit_now)
    mu = rate * (clock[a + horizon_days] - clock[a])
    purchases = alive * expected_min_geometric_poisson(p, mu)
    kept = _kept_share(cfg)
    return pd.DataFrame(
        {
            "customer_id": t["customer_id"].to_numpy(),
            "alive": alive,
            "expected_purchases": purchases,
            "prob_no_purchase": 1 - alive * (1 - np.exp(-mu)),
            "expected_spend": purchases * t["mean_spend"].to_numpy() * kept,
        }
    )
