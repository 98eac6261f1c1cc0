"""The BentoML service marketing systems call: scores by customer id (from the ``clv score`` snapshot), scores from
a raw purchase history (same feature code as training), campaign targeting, model info and reload.

Configuration by environment (``clv serve`` sets it): ``CLV_MODEL_URI`` (default
``models:/customer-value@champion``), ``CLV_SNAPSHOT`` (a ``clv score`` Parquet file), ``CLV_API_KEY`` (optional),
``CLV_ADMIN_KEY`` (for ``/admin/*``; without it they answer 403),
``CLV_MAX_BODY_BYTES``, ``CLV_TIMEOUT_SECONDS``, ``CLV_MAX_CONCURRENCY``, ``MLFLOW_TRACKING_URI``.
"""

from __future__ import annotations

import datetime as dt
import os
from typing import Annotated

import bentoml
import numpy as np
import pandas as pd
from bentoml.exceptions import InvalidArgument, NotFound
from pydantic import Field

from features import InputError, build_features, read_transactions
from serving.contract import Contract, quiet_client_errors
from serving.middleware import Guard
from serving.schemas import (
    CustomerIds,
    ModelInfo,
    PredictResponse,
    Segment,
    Target,
    TargetResponse,
    Transactions,
)
from serving.snapshot import record
from serving.state import ServingState, load_state

DEFAULT_MODEL = "models:/customer-value@champion"
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")


TRAFFIC = {"timeout": float(os.environ.get("CLV_TIMEOUT_SECONDS", "60"))}  # over it: 504


@bentoml.service(name="customer_value", traffic=TRAFFIC, workers=1)
class CustomerValueService:
    """Loads the model once at start-up (``/readyz`` answers 200 only after that)."""

    def __init__(self) -> None:
        self.state: ServingState = load_state(
            os.environ.get("CLV_MODEL_URI", DEFAULT_MODEL), os.environ.get("CLV_SNAPSHOT")
        )

    @bentoml.api(route="/predict")
    def predict(self, customer_ids: CustomerIds) -> PredictResponse:
        """Scores of known customers from the snapshot; unknown ids are listed, not an error."""
        state = self.state
        if state.snapshot is None:
            raise NotFound("the service has no scored snapshot: start it with --snapshot, or use /predict_history")
        found, unknown = state.snapshot.rows(customer_ids)
        return PredictResponse(model_version=str(state.version), predictions=found, unknown_ids=unknown)

    @bentoml.api(route="/predict_history")
    def predict_history(self, as_of: dt.date, transactions: Transactions) -> PredictResponse:
        """Scores computed now from the posted purchases, with the training feature code."""
        state = self.state
        frame = pd.DataFrame([t.model_dump(mode="json") for t in transactions])  # dates as sent: read as from a CSV
        try:
            feats = build_features(read_transactions(frame), as_of, state.bundle.feature_windows())
        except InputError as exc:
            raise InvalidArgument(str(exc)) from None
        if feats.empty:
            return PredictResponse(
                model_version=str(state.version), predictions=[], unknown_ids=sorted(set(frame["customer_id"]))
            )
        pred = state.bundle.predict(feats)
        cols = {c: pred[c].to_numpy() for c in pred.columns}
        rows = [record(cols, i) for i in range(len(pred))]
        scored = {r["customer_id"] for r in rows}
        unknown = sorted(set(frame["customer_id"]) - scored)
        return PredictResponse(model_version=str(state.version), predictions=rows, unknown_ids=unknown)

    @bentoml.api(route="/target")
    def target(
        self,
        budget: Annotated[float, Field(gt=0, allow_inf_nan=False)],
        contact_cost: Annotated[float, Field(ge=0, allow_inf_nan=False)],
        expected_uplift: Annotated[float, Field(gt=0, le=1, allow_inf_nan=False)],
        segment: Segment | None = None,
        min_clv: Annotated[float | None, Field(allow_inf_nan=False)] = None,
        limit: Annotated[int, Field(gt=0, le=100_000)] = 1000,
    ) -> TargetResponse:
        """Customers ranked by P(churn) x CLV x uplift - contact cost, positive only, cut at the budget."""
        state = self.state
        if state.snapshot is None:
            raise NotFound("the service has no scored snapshot: start it with --snapshot")
        c = state.snapshot.columns
        value = c["churn_probability"] * c["predicted_clv"] * expected_uplift - contact_cost
        keep = value > 0
        if segment:
            keep &= c["segment"].astype(str) == segment
        if min_clv is not None:
            keep &= c["predicted_clv"] >= min_clv
        idx = np.flatnonzero(keep)
        idx = idx[np.argsort(-value[idx], kind="stable")]
        affordable = len(idx) if contact_cost == 0 else min(budget // contact_cost, float(len(idx)))
        idx = idx[: min(int(affordable), limit)]
        customers = [
            Target(
                customer_id=str(c["customer_id"][i]),
                expected_incremental_value=float(value[i]),
                churn_probability=float(c["churn_probability"][i]),
                predicted_clv=float(c["predicted_clv"][i]),
                segment=str(c["segment"][i]),
            )
            for i in idx
        ]
        return TargetResponse(
            model_version=str(state.version),
            contacts=len(customers),
            total_cost=float(contact_cost * len(customers)),
            total_expected_incremental_value=float(value[idx].sum()),
            customers=customers,
        )

    @bentoml.api(route="/model")
    def model(self) -> ModelInfo:
        """Which model answers: registry name, version, alias, run, training as-of, horizon, backtest metrics."""
        return info(self.state)

    @bentoml.api(route="/admin/reload")
    def reload(self) -> ModelInfo:
        """Load the model the URI names now (e.g. after ``clv promote``) and the snapshot, then swap atomically:
        requests in flight finish on the old one."""
        current = self.state
        snapshot = current.snapshot.path if current.snapshot else None
        try:
            self.state = load_state(current.model_uri, snapshot)
        except Exception as exc:  # a failed reload keeps serving what it had, and says so
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise InvalidArgument(f"reload failed, still serving version {current.version}: {first}") from None
        return info(self.state)


def info(state: ServingState) -> ModelInfo:
    b = state.bundle
    return ModelInfo(
        name=state.name,
        version=state.version,
        alias=state.alias,
        run_id=state.run_id,
        model_uri=state.model_uri,
        trained_as_of=b.trained_as_of,
        horizon_days=b.horizon_days,
        snapshot=state.snapshot.path if state.snapshot else None,
        snapshot_customers=len(state.snapshot) if state.snapshot else 0,
        backtest_metrics={k: float(v) for k, v in b.metrics.items() if isinstance(v, int | float)},
    )


CustomerValueService.add_asgi_middleware(
    Guard,
    api_key=os.environ.get("CLV_API_KEY"),
    admin_key=os.environ.get("CLV_ADMIN_KEY"),
    max_body_bytes=int(os.environ.get("CLV_MAX_BODY_BYTES", str(32 * 1024 * 1024))),
    max_concurrency=int(os.environ.get("CLV_MAX_CONCURRENCY", "64")),  # over it: 429 (after reading the body)
)
CustomerValueService.add_asgi_middleware(Contract)  # inside Guard: the spec and error bodies as documented
quiet_client_errors()  # a 4xx is one access-log line, without the framework's traceback
