"""Batch scoring: features at as_of for every customer, the bundle's predictions, a drift check against training."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd

from clv.defaults import PSI_THRESHOLD  # the one drift threshold; importable from here too
from features import InputError, TransactionLog
from features.build import features_from_daily
from features.engine import sample_bucket, spark_frame, write_spark_frame
from features.policy import daily_activity
from features.progress import ProgressFn, Steps
from models.bundle import ModelBundle
from models.drift import BUCKETS, CustomerChange, bin_shares, compare_customers, psi_of_shares

BATCH_ROWS = 50_000  # customers per prediction batch: a progress step, and a bound on the reasons' memory


def drifted(drift: dict[str, float], threshold: float = PSI_THRESHOLD) -> dict[str, float]:
    """The features whose PSI is over ``threshold``, most drifted first."""
    return {k: v for k, v in sorted(drift.items(), key=lambda kv: -kv[1]) if v > threshold}


@dataclass
class DriftCheck:
    """What the drift report needs, kept small for millions of customers: per feature the share of the scored
    customers in each training bin (the last one: missing values), never the feature frame, and the customer counts.
    """

    shares: dict[str, list[float]]  # feature -> shares in the bundle's drift_reference bins, missing last
    rows: int  # customers the shares were measured on: every one scored, or the Spark sample
    customers: int  # customers scored
    change: CustomerChange | None  # new and vanished customers; None when the bundle has no training customer set

    @property
    def sampled(self) -> bool:
        return self.rows < self.customers

    def psi(self, reference: dict[str, dict]) -> dict[str, float]:
        return {col: psi_of_shares(reference[col]["shares"], p) for col, p in self.shares.items() if col in reference}


def drift_check(
    bundle: ModelBundle, feats: pd.DataFrame, customers: int | None = None, buckets: int = BUCKETS
) -> DriftCheck:
    """Bin shares and new/vanished customers of a feature frame: every scored customer, or (``customers`` the
    number scored) the sample of the first ``buckets`` hash buckets that ``sample_bucket`` drew."""
    shares = {col: p.tolist() for col, p in bin_shares(bundle.drift_reference, feats).items()}
    change = None
    if bundle.training_customers:
        first = pd.to_datetime(feats["first_purchase"]) if "first_purchase" in feats.columns else None
        history = None if first is None else (first < pd.Timestamp(bundle.trained_as_of)).to_numpy()
        change = compare_customers(
            bundle.training_customers, feats["customer_id"], scored=customers, buckets=buckets, history=history
        )
    total = len(feats) if customers is None else int(customers)
    return DriftCheck(shares=shares, rows=len(feats), customers=total, change=change)


@dataclass
class ScoreResult:
    predictions: pd.DataFrame
    drift: dict[str, float]
    check: DriftCheck | None = None  # for training.drift_report

    @property
    def drifted(self) -> dict[str, float]:
        return drifted(self.drift)


def score(
    log: TransactionLog,
    as_of: dt.date,
    bundle: ModelBundle,
    reasons: bool = True,
    progress: ProgressFn | None = None,
    batch_rows: int = BATCH_ROWS,
) -> ScoreResult:
    """Predictions for every customer with a purchase before ``as_of``, in batches of ``batch_rows`` customers
    (each batch reported to ``progress``)."""
    config = bundle.feature_windows()
    steps = Steps(progress, 1)
    steps.note("features")
    feats = features_from_daily(daily_activity(log), as_of, config, log.has_cost).order_by("customer_id").to_pandas()
    if feats.empty:
        raise InputError(f"no customer has a purchase before {as_of}")
    check = drift_check(bundle, feats)
    starts = range(0, len(feats), batch_rows)
    steps.total = len(feats)
    parts = []
    for start in starts:
        parts.append(bundle.predict(feats.iloc[start : start + batch_rows], reasons=reasons))
        steps.advance(f"{min(start + batch_rows, len(feats)):,} of {len(feats):,} customers", len(parts[-1]))
    predictions = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    return ScoreResult(predictions=predictions, drift=check.psi(bundle.drift_reference), check=check)


@dataclass
class SparkScoreResult:
    """What a Spark scoring job wrote: how many customers, and the drift of a sample of their features."""

    customers: int
    drift: dict[str, float]
    output: str
    check: DriftCheck | None = None  # measured on the sample; for training.drift_report

    @property
    def drifted(self) -> dict[str, float]:
        return drifted(self.drift)


def score_on_spark(
    log: TransactionLog,
    as_of: dt.date,
    bundle: ModelBundle,
    model_uri: str,
    version: str,
    output: str,
    reasons: bool = True,
) -> SparkScoreResult:
    """Features on Spark, the registered model as a Spark UDF over them (``mlflow.pyfunc.spark_udf``), the
    predictions written as a directory of part files; no customer-level frame passes through the driver.

    ``next_order_date`` crosses the UDF as text (it supports no date type) and is a date again in the output.
    Drift is measured on a sample of about ``DRIFT_SAMPLE_ROWS`` customers (whole hash buckets), and new / vanished
    customers are estimated from the same buckets.
    """
    import mlflow
    from pyspark.sql import functions as F

    feats = features_from_daily(daily_activity(log), as_of, bundle.feature_windows(), log.has_cost)
    frame = spark_frame(feats)
    customers = frame.count()
    if not customers:
        raise InputError(f"no customer has a purchase before {as_of}")
    share = DRIFT_SAMPLE_ROWS / customers
    sample = feats.filter(sample_bucket(feats.customer_id, share)).to_pandas()
    check = drift_check(bundle, sample, customers, buckets=min(BUCKETS, int(round(share * BUCKETS))))  # as drawn
    del sample
    drift = check.psi(bundle.drift_reference)
    outputs = mlflow.models.get_model_info(model_uri).signature.outputs
    result_type = ", ".join(f"`{c.name}` {_SPARK_TYPES.get(c.type.name, 'string')}" for c in outputs.inputs)
    predict = mlflow.pyfunc.spark_udf(
        frame.sparkSession, model_uri, result_type=result_type, env_manager="local", params={"reasons": reasons}
    )
    scored = frame.select(predict(F.struct(*[F.col(c) for c in frame.columns])).alias("p")).select("p.*")
    if "next_order_date" in scored.columns:
        scored = scored.withColumn("next_order_date", F.expr("try_cast(substr(next_order_date, 1, 10) AS DATE)"))
    scored = scored.withColumn("model_version", F.lit(version))
    write_spark_frame(scored, output)
    return SparkScoreResult(customers=customers, drift=drift, output=output, check=check)


DRIFT_SAMPLE_ROWS = 200_000
# MLflow signature types -> the Spark types the UDF returns (dates cross as text).
_SPARK_TYPES = {"double": "double", "float": "float", "long": "bigint", "integer": "int", "boolean": "boolean"}
