"""Fit the churn, CLV and purchase models on point-in-time frames, choose what ships against the BTYD baseline on
held-out customers, backtest that out of time, and fit the final bundle the same way. No MLflow here:
``training.tracking`` records what this returns."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from features import FeatureConfig, InputError, TransactionLog, parse_horizon
from features.planner import Grid, Snapshot, backtest_window, plan_frames, training_every
from features.progress import ProgressFn, Steps
from models.boosting import BoosterConfig
from models.bundle import ModelBundle, add_baseline, add_season, baseline_columns
from models.churn import ChurnModel
from models.clv import BaselineCorrectedRegressor, IntervalBands
from models.drift import customer_set, reference_bins
from models.explain import BASELINE_INPUTS
from models.matrix import feature_columns, to_matrix
from models.metrics import churn_metrics, clv_metrics
from models.segments import SegmentConfig, value_thresholds
from training.frames import SnapshotStore, sample_share

SEASON_COLUMNS = ("season_index", "season_recent", "season_observed")
# Validation customers, by a stable hash of the id: early stopping | calibration and blend choice | conformal bands.
FITS_PER_BUNDLE = 3  # churn, CLV and purchase boosters
VALIDATION_FOLDS = {"stop": range(0, 4), "choose": range(4, 7), "intervals": range(7, 10)}
MIN_TRAIN_ROWS = 200  # fewer training rows than this: ship the baseline alone


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run needs besides the data; logged as the run's parameters."""

    horizon: str = "181d"
    snapshots: int = 12
    every: str = "28d"
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
    """What one fit saw and chose: its frames' sizes and cutoffs, and what ships for each output (for the run's
    record and the console)."""

    end: str
    horizon_days: int
    every_days: int
    train_rows: int
    validation_rows: dict[str, int]
    validation_cutoff: str
    validation_window_days: int
    train_cutoffs: list[str]
    best_rounds: dict[str, int]
    season: bool
    choices: dict[str, dict]
    baseline_only: str | None = None  # why no model was trained, when none was


@dataclass
class TrainResult:
    bundle: ModelBundle
    backtest_bundle: ModelBundle  # the bundle the backtest tested (data up to test_cutoff)
    backtest: pd.DataFrame  # test customers: labels, shipped and baseline predictions
    test_frame: pd.DataFrame  # their features at the test cutoff
    metrics: dict[str, float]  # flat: "model.roc_auc", "baseline.gini", "lift.gini", ...
    backtest_fit: FitReport
    final_fit: FitReport
    importance: pd.DataFrame
    test_cutoff: dt.date
    test_window_days: int
    first_day: dt.date
    customer_share: float = 1.0


def season_base(frame: pd.DataFrame, column: str) -> np.ndarray:
    """A BTYD forecast scaled for the season of its window: the boosting start of the CLV and purchase models."""
    return frame[column].to_numpy() * frame["season_adjust"].to_numpy()


def without_season(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame as if no season profile were known (what scoring sees when training never had one)."""
    return frame.assign(**{c: np.nan for c in SEASON_COLUMNS}, season_adjust=1.0)


def validation_fold(frame: pd.DataFrame) -> np.ndarray:
    """0-9 per row from a stable hash of the customer id: the same customer lands in the same fold every run."""
    return (pd.util.hash_pandas_object(frame["customer_id"], index=False).to_numpy() % 10).astype(int)


def _level_population(reference: pd.DataFrame, baseline, end: dt.date, h: int, features: list[str], column: str):
    """The customers to be scored at ``end`` as (matrix, boosting start, baseline forecast) of ``column``: where the
    season ahead is unknown, the shipped total over them is held at the baseline's (see ``calibrate``)."""
    frame = add_season(add_baseline(reference, baseline, h), None, end, h).assign(horizon_days=h)
    return to_matrix(frame, features), season_base(frame, column), frame[column].to_numpy()


def reason_reference(reference: pd.DataFrame, baseline, horizon_days: int, segments: SegmentConfig) -> dict[str, float]:
    """The customer whose baseline churn risk is nearest the edge of the safe band (``watch_from``): reasons say
    what moves a score away from a customer who is just safe, so an at-risk score is explained by what raises it."""
    risk = baseline_columns(reference, baseline, horizon_days)["btyd_prob_no_purchase"]
    row = reference.iloc[int(np.argmin(np.abs(risk - segments.watch_from)))]
    return {k: float(row[k]) for k in BASELINE_INPUTS}


def _margin_rate(reference: pd.DataFrame, config: TrainConfig) -> float | None:
    """``--margin`` if given, else the log's own margin share (net spend minus cost over net spend), else None."""
    if config.margin is not None:
        return config.margin
    if "total_margin" in reference.columns and reference["total_spend"].sum() > 0:
        return float(np.clip(reference["total_margin"].sum() / reference["total_spend"].sum(), 0.0, 1.0))
    return None


def _sample(frame: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    return frame.sample(n=n, random_state=seed).sort_index() if len(frame) > n else frame


def _why_baseline_only(train: pd.DataFrame, folds: dict[str, pd.DataFrame], plan_train: list) -> str | None:
    """Why no correction can be learned from these frames, or None when one can."""
    if not plan_train:
        return "the history holds no training window before the validation window"
    if len(train) < MIN_TRAIN_ROWS:
        return f"only {len(train)} training rows (at least {MIN_TRAIN_ROWS} are needed)"
    for name, frame in (("training", train), ("validation", folds["stop"]), ("calibration", folds["choose"])):
        if frame["churned"].nunique() < 2:
            return f"the {name} customers all churn or all stay"
    return None


def fit_bundle(
    store: SnapshotStore,
    grid: Grid,
    end: dt.date,
    horizon_days: int,
    config: TrainConfig,
    steps: Steps | None = None,
    baseline_only: str | None = None,
) -> tuple[ModelBundle, FitReport]:
    """The bundle that scores customers at ``end`` over ``horizon_days``: trees trained on windows that end by
    the validation cutoff; validation customers split three ways: early stopping, then the choice of model /
    baseline / blend per output, then the conformal interval bands. What ships is what was validated.
    ``baseline_only``: ship the baseline alone, for this reason."""
    steps = steps or Steps(None, FITS_PER_BUNDLE)
    h = horizon_days
    plan = plan_frames(end, h, config.snapshots, grid)
    steps.note(f"frames for a model ending {end}: {len(plan.train)} training cutoffs")
    val = _sample(store.snapshot(plan.validation), config.max_train_rows // 2, config.seed)
    if len(val) < 30:
        raise InputError(
            f"only {len(val)} customers bought before {plan.validation.cutoff}: too few to validate a forecast "
            f"for {end}; use a later --as-of"
        )
    train = _sample(store.frame(plan.train), config.max_train_rows, config.seed) if plan.train else val.iloc[:0]
    season = bool(train["season_index"].notna().any())
    profile = store.profile(end) if season else None
    if not season:
        # Training rows never saw a season: scoring must not either (the same transformation, or none).
        train, val = without_season(train), without_season(val)
    fold = validation_fold(val)
    folds = {name: val[np.isin(fold, list(part))] for name, part in VALIDATION_FOLDS.items()}
    reason = baseline_only or _why_baseline_only(train, folds, plan.train)
    features = feature_columns(val)
    churn = ChurnModel(config.booster, features)
    spend = BaselineCorrectedRegressor("tweedie", config.booster, features)
    purchases = BaselineCorrectedRegressor("poisson", config.booster, features)
    best: dict[str, int] = {}
    reference, bundle_baseline = store.features(end), store.baseline(end)
    if reason is None:
        x_tr, stop, choose = to_matrix(train, features), folds["stop"], folds["choose"]
        x_stop, x_choose = to_matrix(stop, features), to_matrix(choose, features)
        steps.advance(f"fitting the churn model ending {end}")
        churn.fit(
            x_tr, train["churned"].to_numpy(), train["btyd_prob_no_purchase"].to_numpy(),
            x_stop, stop["churned"].to_numpy(), stop["btyd_prob_no_purchase"].to_numpy(), features,
        ).calibrate(x_choose, choose["churned"].to_numpy(), choose["btyd_prob_no_purchase"].to_numpy())  # fmt: skip
        for model, target, column, name in (
            (spend, "future_spend", "btyd_expected_value", "CLV"),
            (purchases, "future_purchases", "btyd_expected_purchases", "purchases"),
        ):
            steps.advance(f"fitting the {name} model ending {end}")
            model.fit(
                x_tr, train[target].to_numpy(), season_base(train, column),
                x_stop, stop[target].to_numpy(), season_base(stop, column), features,
            )  # fmt: skip
            model.calibrate(
                x_choose, choose[target].to_numpy(), season_base(choose, column), choose[column].to_numpy(),
                level_on=None if season else _level_population(reference, bundle_baseline, end, h, features, column),
            )  # fmt: skip
        best = {k: m.booster_.best_iteration for k, m in (("churn", churn), ("clv", spend), ("purchases", purchases))}
    else:
        steps.advance(f"shipping the BTYD baseline alone for {end}: {reason}", FITS_PER_BUNDLE)
    bundle = ModelBundle(
        horizon_days=h,
        trained_as_of=end.isoformat(),
        features=features,
        baseline=bundle_baseline,
        churn=churn,
        clv=spend,
        purchases=purchases,
        intervals=IntervalBands(lower=[0.0], upper=[1.0]),  # fitted below, on the interval customers
        value_thresholds=(0.0, 0.0),
        segment_config=config.segments,
        feature_config=asdict(store.config),
        season_profile=profile,
        margin_rate=_margin_rate(reference, config),
        reason_reference=reason_reference(reference, store.baseline(end), h, config.segments),
    )
    preview = bundle.predict(reference, reasons=False)
    bands = folds["intervals"]
    band_pred = spend.predict(
        to_matrix(bands, features), season_base(bands, "btyd_expected_value"), bands["btyd_expected_value"].to_numpy()
    )
    bundle.intervals = IntervalBands.fit(band_pred, bands["future_spend"].to_numpy())
    bundle.value_thresholds = value_thresholds(preview["predicted_clv"].to_numpy(), config.segments)
    bundle.drift_reference = reference_bins(reference, [f for f in features if f in reference.columns])
    bundle.training_customers = customer_set(reference["customer_id"])
    report = FitReport(
        end=end.isoformat(),
        horizon_days=h,
        every_days=grid.every_days,
        train_rows=len(train),
        validation_rows={name: len(f) for name, f in folds.items()},
        validation_cutoff=plan.validation.cutoff.isoformat(),
        validation_window_days=plan.validation.window_days,
        train_cutoffs=[f"{s.cutoff}:{s.window_days}d" for s in plan.train],
        best_rounds=best,
        season=season,
        choices={k: m.choice_.to_dict() for k, m in (("churn", churn), ("clv", spend), ("purchases", purchases))},
        baseline_only=reason,
    )
    return bundle, report


def evaluate(bundle: ModelBundle, test: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, float]]:
    """What ships and the BTYD baseline on the same test customers; metrics flattened as ``model.*``,
    ``baseline.*``, ``lift.*`` (model minus baseline; for the aggregate error, |model| minus |baseline|)."""
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
    metrics["lift.aggregate_error"] = abs(model["aggregate_error"]) - abs(base["aggregate_error"])
    metrics["backtest.customers"] = float(len(out))
    metrics["backtest.churn_rate"] = float(y.mean())
    metrics["backtest.actual_spend"] = float(actual.sum())
    return out, metrics


def feature_importance(bundle: ModelBundle) -> pd.DataFrame:
    """Gain importance of each feature in the churn and CLV boosters (zero when the baseline ships alone)."""

    def gain(model) -> np.ndarray:
        return (
            model.booster_.feature_importance("gain") if model.booster_ is not None else np.zeros(len(bundle.features))
        )

    frame = pd.DataFrame({"feature": bundle.features, "churn_gain": gain(bundle.churn), "clv_gain": gain(bundle.clv)})
    return frame.sort_values("churn_gain", ascending=False)


def choice_metrics(fit: FitReport, prefix: str) -> dict[str, float]:
    """The blend weight of each output (1 = model, 0 = baseline) as flat metrics."""
    return {f"{prefix}.{name}_weight": float(c["weight"]) for name, c in fit.choices.items()}


def planned_steps(grid: Grid, test_cutoff: dt.date, window: int, as_of: dt.date, h: int, snapshots: int) -> int:
    """The steps ``train`` reports: one per customer-day group-by (a distinct cutoff and window of both plans,
    the backtest window, the final reference) and one per booster fitted."""
    plans = (plan_frames(test_cutoff, window, snapshots, grid), plan_frames(as_of, h, snapshots, grid))
    pairs = {(s.cutoff, s.window_days) for p in plans for s in [*p.train, p.validation]} | {(test_cutoff, window)}
    return len(pairs) + (as_of not in {c for c, _ in pairs}) + 2 * FITS_PER_BUNDLE


def train(
    log: TransactionLog,
    as_of: dt.date,
    config: TrainConfig,
    feature_config: FeatureConfig | None = None,
    progress: ProgressFn | None = None,
    store: SnapshotStore | None = None,
) -> TrainResult:
    """Backtest (a bundle whose data ends one window before ``as_of``, tested on that window: the horizon, or a
    third of the history when shorter), then the final bundle on everything up to ``as_of``. ``store``: the log's
    customer-day table if already built (the CLI builds it first for the run summary)."""
    store = store or SnapshotStore(log, feature_config or FeatureConfig())
    steps = Steps(progress, FITS_PER_BUNDLE)
    store.progress = steps.advance
    cutoffs = config.snapshots + -(-config.horizon_days // config.every_days)
    share = sample_share(store.report.customers, cutoffs, config.max_train_rows)
    if share < 1.0:
        steps.note(f"training on a {share:.0%} sample of customers (--max-train-rows {config.max_train_rows:,})")
        store.sample(share)
    h = config.horizon_days
    if as_of <= store.first_day:
        raise InputError(f"--as-of {as_of} is not after the first day of the log ({store.first_day})")
    last_day = store.last_day
    if as_of > last_day + dt.timedelta(days=1):
        raise InputError(
            f"--as-of {as_of} is after the last day of the log ({last_day}): the backtest's labels would "
            f"count days with no data as churn; use --as-of {last_day + dt.timedelta(days=1)} or earlier"
        )
    history = (as_of - store.first_day).days
    window = backtest_window(history, h)
    test_cutoff = as_of - dt.timedelta(days=window)
    grid = Grid(as_of, training_every(config.every_days, history), store.first_day)
    steps.total = planned_steps(grid, test_cutoff, window, as_of, h, config.snapshots)
    steps.note(f"backtest: model on data before {test_cutoff}, tested on [{test_cutoff}, {as_of})")
    backtest_bundle, backtest_fit = fit_bundle(store, grid, test_cutoff, window, config, steps)
    # A model that cannot be backtested does not ship: without one, the final bundle is the baseline alone too.
    untested = backtest_fit.baseline_only and f"no model could be backtested ({backtest_fit.baseline_only})"
    test = store.snapshot(Snapshot(test_cutoff, window))
    if test.empty:
        raise InputError(f"no customer has a purchase before the backtest cutoff {test_cutoff}")
    if not backtest_fit.season:
        test = without_season(test)
    backtest, metrics = evaluate(backtest_bundle, test)
    steps.note("final model on everything up to as_of")
    bundle, final_fit = fit_bundle(store, grid, as_of, h, config, steps, baseline_only=untested or None)
    steps.finish()
    metrics |= choice_metrics(backtest_fit, "backtest") | choice_metrics(final_fit, "final")
    metrics["backtest.window_days"] = float(window)
    bundle.metrics = metrics
    return TrainResult(
        bundle=bundle,
        backtest_bundle=backtest_bundle,
        backtest=backtest,
        test_frame=test,
        metrics=metrics,
        backtest_fit=backtest_fit,
        final_fit=final_fit,
        importance=feature_importance(bundle),
        test_cutoff=test_cutoff,
        test_window_days=window,
        first_day=store.first_day,
        customer_share=share,
    )
