"""Fit the churn, CLV and purchase models on point-in-time frames, backtest them out of time against the BTYD
baseline, and refit the final bundle. No MLflow here: ``training.tracking`` records what this returns."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from features import FeatureConfig, InputError, TransactionLog, parse_horizon
from features.snapshots import Snapshot
from models.boosting import BoosterConfig
from models.bundle import ModelBundle
from models.churn import ChurnModel
from models.clv import BaselineCorrectedRegressor, IntervalBands
from models.drift import reference_bins
from models.matrix import feature_columns, to_matrix
from models.metrics import churn_metrics, clv_metrics
from models.segments import SegmentConfig, value_thresholds
from training.frames import Grid, SnapshotStore, plan_frames, sample_share, snapshots_before


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run needs besides the data; logged as the run's parameters."""

    horizon: str = "181d"
    snapshots: int = 6
    every: str = "28d"
    refit: bool = True
    max_train_rows: int = 2_000_000
    seed: int = 0
    margin: float | None = None  # margin share of spend when the log has no cost column
    booster: BoosterConfig = field(default_factory=BoosterConfig)
    segments: SegmentConfig = field(default_factory=SegmentConfig)

    @property
    def horizon_days(self) -> int:
        return parse_horizon(self.horizon)

    @property
    def every_days(self) -> int:
        return parse_horizon(self.every)

    def as_params(self) -> dict:
        flat = {k: v for k, v in asdict(self).items() if k not in ("booster", "segments")}
        flat |= {f"booster.{k}": v for k, v in self.booster.as_dict().items()}
        flat |= {f"segments.{k}": v for k, v in self.segments.as_dict().items()}
        return flat | {"horizon_days": self.horizon_days}


@dataclass
class FitReport:
    """What one fit saw: its frames' sizes and cutoffs (for the run's record)."""

    end: str
    train_rows: int
    validation_rows: int
    validation_cutoff: str
    validation_window_days: int
    train_cutoffs: list[str]
    refit_rows: int | None
    best_rounds: dict[str, int]


@dataclass
class TrainResult:
    bundle: ModelBundle
    backtest: pd.DataFrame  # test customers: labels, model and baseline predictions
    test_frame: pd.DataFrame  # their features at the test cutoff
    metrics: dict[str, float]  # flat: "model.roc_auc", "baseline.gini", "lift.gini", ...
    backtest_fit: FitReport
    final_fit: FitReport
    importance: pd.DataFrame
    test_cutoff: dt.date
    first_day: dt.date
    customer_share: float = 1.0


def base(frame: pd.DataFrame, column: str) -> np.ndarray:
    """A BTYD forecast scaled for the season of its window: the boosting start of the CLV and purchase models."""
    return frame[column].to_numpy() * frame["season_adjust"].to_numpy()


def _margin_rate(reference: pd.DataFrame, config: TrainConfig) -> float | None:
    """``--margin`` if given, else the log's own margin share (net spend minus cost over net spend), else None."""
    if config.margin is not None:
        return config.margin
    if "total_margin" in reference.columns and reference["total_spend"].sum() > 0:
        return float(np.clip(reference["total_margin"].sum() / reference["total_spend"].sum(), 0.0, 1.0))
    return None


def _sample(frame: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    return frame.sample(n=n, random_state=seed).sort_index() if len(frame) > n else frame


def fit_bundle(
    store: SnapshotStore, grid: Grid, end: dt.date, config: TrainConfig, progress: Callable[[str], None] | None = None
) -> tuple[ModelBundle, FitReport]:
    """Train on labels that end by ``v``, early-stop / calibrate on the later window [v, end), optionally refit on
    every snapshot up to ``end``; the bundle scores customers at ``end`` over the horizon."""
    say = progress or (lambda _msg: None)
    h = config.horizon_days
    plan = plan_frames(end, h, config.snapshots, grid)
    say(f"frames for a model ending {end}: {len(plan.train)} training cutoffs, validation {plan.validation.cutoff}")
    train = _sample(store.frame(plan.train), config.max_train_rows, config.seed)
    val = _sample(store.snapshot(plan.validation), config.max_train_rows // 2, config.seed)
    if val.empty or train["churned"].nunique() < 2 or val["churned"].nunique() < 2:
        raise InputError(f"too little history before {end} to train: need customers who buy and who do not")
    features = feature_columns(train)
    x_tr, x_val = to_matrix(train, features), to_matrix(val, features)

    say("fitting the churn model")
    churn = ChurnModel(config.booster).fit(
        x_tr, train["churned"].to_numpy(), train["btyd_prob_no_purchase"].to_numpy(),
        x_val, val["churned"].to_numpy(), val["btyd_prob_no_purchase"].to_numpy(), features,
    )  # fmt: skip
    say("fitting the CLV model")
    spend = BaselineCorrectedRegressor("tweedie", config.booster)
    spend.fit(
        x_tr, train["future_spend"].to_numpy(), base(train, "btyd_expected_value"),
        x_val, val["future_spend"].to_numpy(), base(val, "btyd_expected_value"), features,
    )  # fmt: skip
    say("fitting the purchases model")
    purchases = BaselineCorrectedRegressor("poisson", config.booster)
    purchases.fit(
        x_tr, train["future_purchases"].to_numpy(), base(train, "btyd_expected_purchases"),
        x_val, val["future_purchases"].to_numpy(), base(val, "btyd_expected_purchases"), features,
    )  # fmt: skip
    if val["season_index"].isna().all():
        # Without a year of history the validation window's season is unknown, and re-anchoring the level on it
        # would carry that season into every other window: keep the baseline's level instead.
        spend.level_ = purchases.level_ = 1.0
    intervals = IntervalBands.fit(spend.predict(x_val, base(val, "btyd_expected_value")), val["future_spend"])
    best = {
        "churn": churn.booster_.best_iteration,
        "clv": spend.booster_.best_iteration,
        "purchases": purchases.booster_.best_iteration,
    }

    refit_rows = None
    if config.refit:
        say(f"refitting on every snapshot up to {end}")
        everything = _sample(
            store.frame(snapshots_before(end, h, config.snapshots, grid) + [plan.validation]),
            config.max_train_rows,
            config.seed,
        )
        x_all = to_matrix(everything, features)
        churn.refit(x_all, everything["churned"].to_numpy(), everything["btyd_prob_no_purchase"].to_numpy(), len(train))
        spend.refit(x_all, everything["future_spend"].to_numpy(), base(everything, "btyd_expected_value"), len(train))
        purchases.refit(
            x_all, everything["future_purchases"].to_numpy(), base(everything, "btyd_expected_purchases"), len(train)
        )
        refit_rows = len(everything)

    reference = store.features(end)
    bundle = ModelBundle(
        horizon_days=h,
        trained_as_of=end.isoformat(),
        features=features,
        baseline=store.baseline(end),
        churn=churn,
        clv=spend,
        purchases=purchases,
        intervals=intervals,
        value_thresholds=(0.0, 0.0),
        segment_config=config.segments,
        feature_config=asdict(store.config),
        season_profile=store.profile(end),
        margin_rate=_margin_rate(reference, config),
    )
    preview = bundle.predict(reference, reasons=False)
    bundle.value_thresholds = value_thresholds(preview["predicted_clv"].to_numpy(), config.segments)
    bundle.drift_reference = reference_bins(reference, [f for f in features if f in reference.columns])
    report = FitReport(
        end=end.isoformat(),
        train_rows=len(train),
        validation_rows=len(val),
        validation_cutoff=plan.validation.cutoff.isoformat(),
        validation_window_days=plan.validation.window_days,
        train_cutoffs=[f"{s.cutoff}:{s.window_days}d" for s in plan.train],
        refit_rows=refit_rows,
        best_rounds=best,
    )
    return bundle, report


def evaluate(bundle: ModelBundle, test: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, float]]:
    """Model and BTYD baseline on the same test customers; metrics flattened as ``model.*``, ``baseline.*``,
    ``lift.*`` (model minus baseline)."""
    pred = bundle.predict(test, reasons=False)
    out = test[["customer_id", "churned", "future_spend", "future_purchases"]].copy()
    out[["churn_probability", "predicted_clv", "clv_lower", "clv_upper", "expected_purchases"]] = pred[
        ["churn_probability", "predicted_clv", "clv_lower", "clv_upper", "expected_purchases"]
    ].to_numpy()
    out["baseline_churn"] = test["btyd_prob_no_purchase"].to_numpy()
    out["baseline_clv"] = test["btyd_expected_value"].to_numpy()
    out["baseline_purchases"] = test["btyd_expected_purchases"].to_numpy()
    y = out["churned"].astype(int).to_numpy()
    actual = out["future_spend"].to_numpy()
    model = churn_metrics(y, out["churn_probability"]) | clv_metrics(
        actual, out["predicted_clv"], out["clv_lower"], out["clv_upper"]
    )
    base = churn_metrics(y, out["baseline_churn"]) | clv_metrics(actual, out["baseline_clv"])
    for name, pred_col in (("model", "expected_purchases"), ("baseline", "baseline_purchases")):
        target = model if name == "model" else base
        target["purchases_mae"] = float(np.mean(np.abs(out[pred_col] - out["future_purchases"])))
    metrics = {f"model.{k}": v for k, v in model.items()} | {f"baseline.{k}": v for k, v in base.items()}
    metrics |= {f"lift.{k}": model[k] - base[k] for k in base if k in model}
    metrics["backtest.customers"] = float(len(out))
    metrics["backtest.churn_rate"] = float(y.mean())
    metrics["backtest.actual_spend"] = float(actual.sum())
    return out, metrics


def feature_importance(bundle: ModelBundle) -> pd.DataFrame:
    """Gain importance of each feature in the churn and CLV boosters."""
    return pd.DataFrame(
        {
            "feature": bundle.features,
            "churn_gain": bundle.churn.booster_.feature_importance("gain"),
            "clv_gain": bundle.clv.booster_.feature_importance("gain"),
        }
    ).sort_values("churn_gain", ascending=False)


def train(
    log: TransactionLog,
    as_of: dt.date,
    config: TrainConfig,
    feature_config: FeatureConfig | None = None,
    progress: Callable[[str], None] | None = None,
) -> TrainResult:
    """Backtest (a model whose data ends one horizon before ``as_of``, tested on that last horizon), then the
    final bundle trained on everything up to ``as_of``."""
    say = progress or (lambda _msg: None)
    cutoffs = config.snapshots + -(-config.horizon_days // config.every_days)
    share = sample_share(log, cutoffs, config.max_train_rows)
    if share < 1.0:
        say(f"training on a {share:.0%} sample of customers (--max-train-rows {config.max_train_rows:,})")
    store = SnapshotStore(log, feature_config or FeatureConfig(), progress=say, sample_share=share)
    h = config.horizon_days
    test_cutoff = as_of - dt.timedelta(days=h)
    if as_of <= store.first_day:
        raise InputError(f"--as-of {as_of} is not after the first day of the log ({store.first_day})")
    last_day = store.totals.index.max().date() if len(store.totals) else store.first_day
    if as_of > last_day + dt.timedelta(days=1):
        raise InputError(
            f"--as-of {as_of} is after the last purchase day of the log ({last_day}): the backtest's labels would "
            f"count days with no data as churn; use --as-of {last_day + dt.timedelta(days=1)} or earlier"
        )
    grid = Grid(as_of, config.every_days, store.first_day)
    say(f"backtest: model on data before {test_cutoff}, tested on [{test_cutoff}, {as_of})")
    backtest_bundle, backtest_fit = fit_bundle(store, grid, test_cutoff, config, say)
    test = store.snapshot(Snapshot(test_cutoff, h))
    if test.empty:
        raise InputError(f"no customer has a purchase before the backtest cutoff {test_cutoff}")
    backtest, metrics = evaluate(backtest_bundle, test)
    say("final model on everything up to as_of")
    bundle, final_fit = fit_bundle(store, grid, as_of, config, say)
    bundle.metrics = metrics
    return TrainResult(
        bundle=bundle,
        backtest=backtest,
        test_frame=test,
        metrics=metrics,
        backtest_fit=backtest_fit,
        final_fit=final_fit,
        importance=feature_importance(bundle),
        test_cutoff=test_cutoff,
        first_day=store.first_day,
        customer_share=share,
    )
