"""Forecast quality by scenario: the shipped model vs the BTYD baseline vs two oracles, on generated logs.

Each scenario generates a log that runs a horizon past ``as_of``, so the true future is known. The model is trained
(``training.train.train``) on the rows before ``as_of`` only, and every customer with a purchase before ``as_of``
is scored (``training.score.score``) and compared with what they then did, next to:

* BTYD: the BG/NBD + Gamma-Gamma baseline fitted at ``as_of`` (the bundle's own), with no season adjustment;
* rates oracle: knows each customer's purchase rate, dropout probability and mean spend, not whether they are still
  alive (``features.generate.rates_oracle``): what a model could reach from a log at best;
* full oracle: knows every latent quantity, alive or not (``features.generate.oracle_expected``): the ceiling.

Shipped - BTYD differences come with a paired bootstrap 95 % interval (customers resampled, the same rows for
both). Worse beyond noise: the whole interval on the worse side of 0; better beyond noise: on the better side.
Run: ``python benchmarks/quality.py --customers 50000 [--scenarios a,b --bootstrap 200]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from features import ColumnMap, build_features, build_labels, read_transactions  # noqa: E402
from features.generate import GeneratorConfig, oracle_expected, rates_oracle, write_generated  # noqa: E402
from models.bundle import baseline_columns  # noqa: E402
from models.compare import paired_bootstrap  # noqa: E402
from models.metrics import (  # noqa: E402
    aggregate_error,
    brier,
    decile_mape,
    normalized_gini,
    rmse,
    roc_auc,
    spend_capture,
)
from training.score import score  # noqa: E402
from training.train import TrainConfig, train  # noqa: E402

COLUMNS = ColumnMap(order="order_id", cost="cost")
AGGREGATE_BOUND = 0.05
NEAR_ORACLE = 0.98  # AUC and Gini must beat BTYD wherever BTYD reaches less than this share of the rates oracle's


@dataclass(frozen=True)
class Scenario:
    key: str
    title: str
    start: dt.date
    as_of: dt.date
    horizon_days: int
    acquisition_days: int | None = None
    season_amplitude: float | None = None

    def config(self, customers: int, seed: int) -> GeneratorConfig:
        """The generator: from ``start`` to a horizon past ``as_of``; unset options keep the generator's defaults."""
        options = {"season_amplitude": self.season_amplitude} if self.season_amplitude is not None else {}
        return GeneratorConfig(
            customers=customers,
            seed=seed,
            start=self.start,
            end=self.as_of + dt.timedelta(days=self.horizon_days),
            acquisition_days=self.acquisition_days,
            **options,
        )

    @property
    def full_year(self) -> bool:
        """Does the history before ``as_of`` hold a full year (what the season profile needs)?"""
        return (self.as_of - self.start).days >= 365


SCENARIOS = {
    s.key: s
    for s in (
        Scenario("a", "three years, many cohorts", dt.date(2022, 1, 1), dt.date(2025, 1, 1), 181),
        Scenario(
            "b", "one acquisition cohort, 12 months -> 181 days", dt.date(2024, 1, 1), dt.date(2025, 1, 1), 181, 84
        ),
        Scenario("c", "one acquisition cohort, 15 months -> 91 days", dt.date(2024, 1, 1), dt.date(2025, 4, 1), 91, 84),
        Scenario(
            "d", "one cohort, 9 months -> 182 days across December", dt.date(2024, 1, 1), dt.date(2024, 10, 1), 182, 84
        ),
        Scenario(
            "e",
            "strong seasonality (A = 0.7) with growth, three years",
            dt.date(2022, 1, 1),
            dt.date(2025, 1, 1),
            181,
            season_amplitude=0.7,
        ),
    )
}


def _abs_aggregate_error(actual, pred) -> float:
    return abs(aggregate_error(actual, pred))


@dataclass(frozen=True)
class Metric:
    name: str
    fn: Callable[[np.ndarray, np.ndarray], float]  # shown in the table
    higher_is_better: bool
    on_churn: bool  # scores churn probabilities against churned (else CLV against future spend)
    compare_fn: Callable[[np.ndarray, np.ndarray], float] | None = None  # compared (bootstrapped) instead of fn

    @property
    def compared(self) -> Callable[[np.ndarray, np.ndarray], float]:
        return self.compare_fn or self.fn


METRICS = [
    Metric("roc_auc", roc_auc, True, True),
    Metric("brier", brier, False, True),
    Metric("gini", normalized_gini, True, False),
    Metric("top10_capture", lambda a, p: spend_capture(a, p, top=0.10), True, False),
    Metric("rmse", rmse, False, False),
    Metric("decile_mape", decile_mape, False, False),
    # Shown signed; compared by size (diff = |shipped| - |BTYD|): an error of either sign is as bad.
    Metric("aggregate_error", aggregate_error, False, False, _abs_aggregate_error),
]
PREDICTORS = ["shipped", "btyd", "rates", "full"]


@dataclass
class Outcome:
    scenario: Scenario
    customers: int = 0
    churn_rate: float = float("nan")
    train_seconds: float = float("nan")
    table: pd.DataFrame | None = None  # one row per metric
    error: str | None = None


def log_before(transactions: Path, as_of: dt.date, folder: Path) -> Path:
    """The log's rows strictly before ``as_of`` as their own file: training sees nothing of the future whatever
    the training code does with a longer log."""
    tx = pd.read_parquet(transactions)
    out = folder / "before_as_of.parquet"
    tx[tx["date"] < pd.Timestamp(as_of)].to_parquet(out, index=False)
    return out


def predictions(scenario: Scenario, folder: Path, customers: int, seed: int, say) -> tuple[pd.DataFrame, float]:
    """One row per customer with a purchase before as_of: labels and the four predictors' churn and CLV."""
    cfg = scenario.config(customers, seed)
    h = scenario.horizon_days
    say(f"generating {customers:,} customers, {cfg.start} to {cfg.end}")
    paths = write_generated(cfg, folder)
    log = read_transactions(paths["transactions"], COLUMNS)
    history_log = read_transactions(log_before(paths["transactions"], scenario.as_of, folder), COLUMNS)

    say(f"training at {scenario.as_of}, horizon {h}d")
    t0 = time.perf_counter()
    result = train(history_log, scenario.as_of, TrainConfig(horizon=f"{h}d"))
    seconds = time.perf_counter() - t0

    say("scoring, labels, baseline and oracles")
    shipped = score(history_log, scenario.as_of, result.bundle, reasons=False).predictions
    labels = build_labels(log, scenario.as_of, f"{h}d")
    feats = build_features(history_log, scenario.as_of)
    btyd = baseline_columns(feats, result.bundle.baseline, h)
    truth = pd.read_parquet(paths["truth"])
    rates = rates_oracle(truth, cfg, scenario.as_of, h, feats).set_index("customer_id")
    full = oracle_expected(truth, cfg, scenario.as_of, h).set_index("customer_id")

    frame = labels.set_index("customer_id")[["churned", "future_spend"]]
    ids = frame.index
    for name, other in (("scores", shipped["customer_id"]), ("features", feats["customer_id"]), ("oracle", full.index)):
        if len(other) != len(ids) or set(other) != set(ids):
            raise RuntimeError(f"the {name} cover other customers than the labels ({len(other)} vs {len(ids)})")
    s = shipped.set_index("customer_id").loc[ids]
    b = pd.DataFrame(btyd, index=feats["customer_id"]).loc[ids]
    frame = frame.assign(
        churned=frame["churned"].astype(int),
        shipped_churn=s["churn_probability"].astype(float),
        shipped_clv=s["predicted_clv"].astype(float),
        btyd_churn=b["btyd_prob_no_purchase"].astype(float),
        btyd_clv=b["btyd_expected_value"].astype(float),
        rates_churn=rates.loc[ids, "prob_no_purchase"],
        rates_clv=rates.loc[ids, "expected_spend"],
        full_churn=full.loc[ids, "prob_no_purchase"],
        full_clv=full.loc[ids, "expected_spend"],
    )
    return frame, seconds


def metric_table(frame: pd.DataFrame, n_boot: int, seed: int) -> pd.DataFrame:
    """Per metric: each predictor's value and shipped - BTYD with its paired bootstrap interval."""
    y = frame["churned"].to_numpy()
    spend = frame["future_spend"].to_numpy(dtype=float)
    rows = []
    for m in METRICS:
        actual, kind = (y, "churn") if m.on_churn else (spend, "clv")
        pred = {p: frame[f"{p}_{kind}"].to_numpy(dtype=float) for p in PREDICTORS}
        diff, lo, hi = paired_bootstrap(m.compared, actual, pred["shipped"], pred["btyd"], n_boot=n_boot, seed=seed)
        worse = hi < 0 if m.higher_is_better else lo > 0
        better = lo > 0 if m.higher_is_better else hi < 0
        rows.append(
            {"metric": m.name, **{p: float(m.fn(actual, pred[p])) for p in PREDICTORS}}
            | {"diff": diff, "lo": lo, "hi": hi, "worse": bool(worse), "better": bool(better)}
        )
    return pd.DataFrame(rows).set_index("metric")


def share_of_rates(table: pd.DataFrame, metric: str, who: str) -> float:
    return table.loc[metric, who] / table.loc[metric, "rates"]


def targets(o: Outcome) -> list[tuple[str, str, str]]:
    """(target, met: yes / NO / n/a, value) for one scenario."""
    s = o.scenario
    if o.table is None:
        return [("scenario runs", "NO", o.error or "failed")]
    t = o.table
    worse = [m for m in t.index if t.loc[m, "worse"]]
    out = [("not worse than BTYD beyond noise on any metric", "NO" if worse else "yes", ", ".join(worse) or "none")]
    for metric in ("roc_auc", "gini"):
        reach = share_of_rates(t, metric, "btyd")
        if reach < NEAR_ORACLE:
            ok = bool(t.loc[metric, "better"])
            out.append(
                (f"better than BTYD on {metric} (BTYD at {reach:.1%} of the rates oracle)", _yes(ok), _ci(t, metric))
            )
        else:
            out.append((f"better than BTYD on {metric}", "n/a", f"BTYD at {reach:.1%} of the rates oracle"))
    agg = t.loc["aggregate_error"]
    if s.full_year:
        ok = abs(agg["shipped"]) <= AGGREGATE_BOUND
        out.append((f"aggregate error within +-{AGGREGATE_BOUND:.0%}", _yes(ok), f"{agg['shipped']:+.1%}"))
    else:
        ok = not agg["worse"]
        value = f"{agg['shipped']:+.1%} vs {agg['btyd']:+.1%}, |.| diff {_ci(t, 'aggregate_error')}"
        out.append(("|aggregate error| <= |BTYD's| + noise (no full year of history)", _yes(ok), value))
    if s.key == "b":
        not_better = [m for m in t.index if not t.loc[m, "better"]]
        out.append(("better than BTYD beyond noise on all seven", _yes(not not_better), ", ".join(not_better) or "all"))
    return out


def _yes(ok: bool) -> str:
    return "yes" if ok else "NO"


def _fmt(v: float) -> str:
    if v != v:
        return "nan"
    return f"{v:.4f}" if abs(v) < 1000 else f"{v:,.1f}"


def _ci(t: pd.DataFrame, metric: str) -> str:
    r = t.loc[metric]
    return f"{_fmt(r['diff'])} [{_fmt(r['lo'])}, {_fmt(r['hi'])}]"


def print_scenario(o: Outcome, n_boot: int) -> None:
    s = o.scenario
    print(f"\n### ({s.key}) {s.title}\n")
    print(
        f"log {s.start} .. {s.as_of + dt.timedelta(days=s.horizon_days)}, as_of {s.as_of}, horizon {s.horizon_days}d"
        + (f", acquisition in the first {s.acquisition_days} days" if s.acquisition_days else "")
        + (f", season amplitude {s.season_amplitude}" if s.season_amplitude is not None else "")
    )
    if o.table is None:
        print(f"\nFAILED: {o.error}")
        return
    print(f"{o.customers:,} customers scored, {o.churn_rate:.1%} churned, training {o.train_seconds:.0f} s\n")
    print(f"| metric | shipped | BTYD | diff [95 % CI, {n_boot} resamples] | rates oracle | full oracle |")
    print("|---|---:|---:|---|---:|---:|")
    for metric, r in o.table.iterrows():
        flag = " (worse)" if r["worse"] else " (better)" if r["better"] else ""
        name = f"{metric} (diff of size)" if metric == "aggregate_error" else metric
        print(
            f"| {name} | {_fmt(r['shipped'])} | {_fmt(r['btyd'])} | {_ci(o.table, metric)}{flag} "
            f"| {_fmt(r['rates'])} | {_fmt(r['full'])} |"
        )
    t = o.table
    print(
        "\nshare of the rates oracle: shipped "
        f"AUC {share_of_rates(t, 'roc_auc', 'shipped'):.1%}, Gini {share_of_rates(t, 'gini', 'shipped'):.1%}; "
        f"BTYD AUC {share_of_rates(t, 'roc_auc', 'btyd'):.1%}, Gini {share_of_rates(t, 'gini', 'btyd'):.1%}"
    )


def run(scenario: Scenario, customers: int, seed: int, n_boot: int, folder: Path) -> Outcome:
    outcome = Outcome(scenario)

    def say(msg: str) -> None:
        print(f"[{scenario.key}] {msg}", file=sys.stderr, flush=True)

    try:
        frame, outcome.train_seconds = predictions(scenario, folder, customers, seed, say)
        outcome.customers = len(frame)
        outcome.churn_rate = float(frame["churned"].mean())
        say(f"bootstrap ({n_boot} resamples)")
        outcome.table = metric_table(frame, n_boot, seed)
    except Exception as exc:  # noqa: BLE001 - one failing scenario must not hide the others
        traceback.print_exc(file=sys.stderr)
        outcome.error = f"{type(exc).__name__}: {exc}"
    return outcome


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=50_000, help="customers per generated log")
    parser.add_argument("--seed", type=int, default=7, help="seed of the generator and of the bootstrap")
    parser.add_argument(
        "--scenarios", default=",".join(SCENARIOS), help="comma-separated keys of " + ", ".join(SCENARIOS)
    )
    parser.add_argument("--bootstrap", type=int, default=200, help="paired bootstrap resamples")
    args = parser.parse_args()
    keys = [k.strip() for k in args.scenarios.split(",") if k.strip()]
    unknown = [k for k in keys if k not in SCENARIOS]
    if unknown or not keys:
        parser.error(f"unknown scenario(s) {unknown or args.scenarios!r}; choose from {', '.join(SCENARIOS)}")
    if args.bootstrap < 1:
        parser.error("--bootstrap must be at least 1")

    outcomes = []
    with tempfile.TemporaryDirectory() as tmp:
        for key in keys:
            outcomes.append(run(SCENARIOS[key], args.customers, args.seed, args.bootstrap, Path(tmp) / key))

    print(f"\n## Forecast quality by scenario: {args.customers:,} generated customers, seed {args.seed}")
    for o in outcomes:
        print_scenario(o, args.bootstrap)
    print("\n## Targets\n")
    print("| scenario | target | met | value |\n|---|---|---|---|")
    for o in outcomes:
        for name, met, value in targets(o):
            print(f"| {o.scenario.key} | {name} | {met} | {value} |")
    print("\n| scenario | training seconds |\n|---|---:|")
    for o in outcomes:
        seconds = "failed" if o.train_seconds != o.train_seconds else f"{o.train_seconds:.0f}"
        print(f"| {o.scenario.key} | {seconds} |")
    return 0 if all(o.table is not None for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
