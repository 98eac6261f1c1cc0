"""The BentoML service marketing systems call: scores by customer id (from the ``clv score`` snapshot), scores from
a raw purchase history (same feature code as training), campaign targeting, model info and reload.

Configuration by environment (``clv serve`` sets it): ``CLV_MODEL_URI`` (default
``models:/customer-value@champion``), ``CLV_SNAPSHOT`` (a ``clv score`` Parquet file), ``CLV_API_KEY`` (optional),
``CLV_ADMIN_KEY`` (for ``/admin/*``; without it they answer 403),
``CLV_MAX_BODY_BYTES``, ``CLV_TIMEOUT_SECONDS``, ``CLV_MAX_CONCURRENCY``, ``CLV_HISTORY_WORKERS``,
``CLV_REGISTRY_TIMEOUT_SECONDS`` and ``CLV_REGISTRY_RETRIES`` (registry calls at start-up and reload),
``MLFLOW_TRACKING_URI``.
Served as a Bento built by ``clv bento``, it loads the model and snapshot its labels name from the BentoML model
store instead, and never contacts MLflow.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
from concurrent.futures import BrokenExecutor
from http import HTTPStatus
from typing import Annotated

import bentoml
import numpy as np
from bentoml.exceptions import BentoMLException, InvalidArgument, NotFound
from pydantic import Field
from starlette.responses import JSONResponse

from clv import defaults
from serving.contract import Contract
from serving.errors import quiet_client_errors
from serving.graceful import defer_idle_close
from serving.history import HistoryRequest, answer, start_workers
from serving.metrics import RequestMetrics
from serving.middleware import OPEN_PATHS, Guard
from serving.offload import HistoryOffload
from serving.openapi import ASSETS, DESCRIPTION, DOC_PATHS
from serving.pool import BoundedPool, PoolFull
from serving.schemas import (
    CustomerIds,
    ModelInfo,
    PredictResponse,
    Segment,
    Target,
    TargetResponse,
    Transactions,
)
from serving.state import ReloadStatus, ServingState, load_state

defaults.telemetry_off()
# A registry that does not answer fails a reload in seconds, not after MLflow's 7 retries of 120 s each.
os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", os.environ.get("CLV_REGISTRY_TIMEOUT_SECONDS", "10"))
os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", os.environ.get("CLV_REGISTRY_RETRIES", "2"))
quiet_client_errors()
defer_idle_close()  # SIGTERM: a request already sent on a kept-alive connection is served, not reset

TRAFFIC = {"timeout": float(os.environ.get("CLV_TIMEOUT_SECONDS", "60"))}  # over it: 504
HISTORY_WORKERS = int(os.environ.get("CLV_HISTORY_WORKERS", "2"))  # worker processes; more at once: 429


class TooManyRequests(BentoMLException):
    error_code = HTTPStatus.TOO_MANY_REQUESTS


class Conflict(BentoMLException):
    error_code = HTTPStatus.CONFLICT


class Unavailable(BentoMLException):
    error_code = HTTPStatus.SERVICE_UNAVAILABLE


@bentoml.service(
    name="customer_value", description=DESCRIPTION, traffic=TRAFFIC, workers=1, metrics={"enabled": False}
)  # the description is a built Bento's README; /docs.json is built in serving.openapi
class CustomerValueService:
    """Loads the model once at start-up (``/readyz`` answers 200 only after that). Lookups by id run on the event
    loop; history requests go, as raw bodies, to their own bounded pool of worker processes (``HistoryOffload``),
    so a lookup never waits behind their parsing or scoring."""

    def __init__(self) -> None:
        from serving.state import BENTO_MODEL, BENTO_SNAPSHOT, load_bento_state

        self.reload_status = ReloadStatus()
        labels = CustomerValueService.bento.info.labels if CustomerValueService.bento else {}
        self.in_bento = BENTO_MODEL in labels
        if self.in_bento:  # a Bento from `clv bento`: everything from its BentoML model store
            self.state: ServingState = load_bento_state(labels[BENTO_MODEL], labels.get(BENTO_SNAPSHOT))
        else:
            self.state = load_state(
                os.environ.get("CLV_MODEL_URI", defaults.CHAMPION_URI), os.environ.get("CLV_SNAPSHOT")
            )
        self.history = history_pool(self.state)
        self.history_restart: asyncio.Task | None = None  # a broken pool being replaced
        self.reloading: asyncio.Task | None = None

    @bentoml.on_shutdown
    def stop_history_workers(self) -> None:
        self.history.shutdown(wait=True)

    async def answer_history(self, body: bytes) -> tuple[int, bytes]:
        """Status and JSON answer of a ``/predict_history`` body, from a history worker (``PoolFull`` if none).
        A pool whose worker died (killed, out of memory) is replaced in the background; meanwhile ``BrokenExecutor``."""
        pool = self.history
        try:
            return await pool.run(answer, body)
        except BrokenExecutor:
            if self.history is pool and self.history_restart is None:
                self.history_restart = asyncio.ensure_future(self._restart_history(pool))
            raise

    async def _restart_history(self, broken: BoundedPool) -> None:
        try:
            fresh = await asyncio.to_thread(history_pool, self.state)
            if self.history is broken:
                self.history = fresh
            else:  # a reload replaced it meanwhile
                fresh.shutdown(wait=False)
            broken.kill()
        finally:
            self.history_restart = None

    @bentoml.api(route="/predict")
    async def predict(self, customer_ids: CustomerIds) -> PredictResponse:
        """Scores of known customers from the snapshot; unknown ids are listed, not an error."""
        state = self.state
        if state.snapshot is None:
            raise NotFound("the service has no scored snapshot: start it with --snapshot, or use /predict_history")
        found, unknown = state.snapshot.rows(customer_ids)
        return PredictResponse(model_version=state.snapshot_version, predictions=found, unknown_ids=unknown)

    @bentoml.api(route="/predict_history")
    async def predict_history(
        self, as_of: dt.date, transactions: Transactions, reasons: bool = True
    ) -> PredictResponse:
        """Scores computed now from the posted purchases, with the training feature code; ``reasons: false`` skips
        the top reasons (faster)."""
        # Over HTTP, HistoryOffload answers before the body is parsed here; this path serves in-process callers.
        body = HistoryRequest(as_of=as_of, transactions=transactions, reasons=reasons).model_dump_json().encode()
        try:
            status, payload = await self.answer_history(body)
        except PoolFull as exc:
            raise TooManyRequests(f"history scoring is busy ({exc}): retry later") from None
        except BrokenExecutor:
            raise Unavailable("history scoring is restarting its workers: retry shortly") from None
        if status != 200:
            raise InvalidArgument(json.loads(payload)["error"])
        return PredictResponse.model_validate_json(payload)

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
            model_version=state.snapshot_version,
            contacts=len(customers),
            total_cost=float(contact_cost * len(customers)),
            total_expected_incremental_value=float(value[idx].sum()),
            customers=customers,
        )

    @bentoml.api(route="/model")
    async def model(self) -> ModelInfo:
        """Which model answers: registry name, version, alias, run, training as-of, horizon, backtest metrics, the
        snapshot and the version that scored it, and the last reload."""
        return info(self.state, self.reload_status)

    @bentoml.api(route="/admin/reload")
    async def reload(self) -> ModelInfo:
        """Load the model the URI names now (e.g. after ``clv promote``) and the snapshot, then swap atomically:
        requests in flight finish on the old one. A failed reload keeps serving what it had, and says so."""
        if self.in_bento:
            raise Conflict("a Bento serves the model it was built with: build a new one with `clv bento`")
        if self.reload_status.state == "in_progress":
            raise Conflict("a reload is already in progress: see /readyz")
        self.reload_status.begin()
        # Shielded: a reload that outlives the request's timeout (504) still completes, and /readyz reports it.
        self.reloading = asyncio.ensure_future(self._reload_now(self.state))
        return await asyncio.shield(self.reloading)

    async def _reload_now(self, current: ServingState) -> ModelInfo | JSONResponse:
        snapshot = current.snapshot.path if current.snapshot else None
        try:
            state = await asyncio.to_thread(load_state, current.model_uri, snapshot)
            pool = await asyncio.to_thread(history_pool, state)
        except Exception as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            self.reload_status.end(first)
            message = f"reload failed, still serving version {current.model_version}: {first}"
            # 503, not 4xx: the registry or the model failed, not the request (the framework would hide the message)
            return JSONResponse({"error": message, "last_reload": self.reload_status.as_dict()}, status_code=503)
        old_pool, self.history, self.state = self.history, pool, state
        old_pool.shutdown(wait=False)  # history requests in flight finish on the old workers
        self.reload_status.end()
        return info(self.state, self.reload_status)

    def readiness(self) -> tuple[int, dict]:
        """``/readyz``: ready once a model is loaded (a reload in progress or failed still serves the old one)."""
        s = self.state
        return 200, {
            "ready": True,
            "model_version": s.model_version,
            "snapshot_model_version": s.snapshot_version if s.snapshot else None,
            "reload": self.reload_status.as_dict(),
            "history_busy": self.history.busy(),
            "history_workers": "restarting" if self.history_restart else "ok",
        }


def history_pool(state: ServingState) -> BoundedPool:
    """``HISTORY_WORKERS`` worker processes holding this state's bundle, started and loaded."""
    return BoundedPool(start_workers(state.bundle, state.model_version, HISTORY_WORKERS), HISTORY_WORKERS)


def info(state: ServingState, reload: ReloadStatus) -> ModelInfo:
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
        snapshot_model_version=state.snapshot_version if state.snapshot else None,
        backtest_metrics={k: float(v) for k, v in b.metrics.items() if isinstance(v, int | float)},
        last_reload=reload.as_dict(),
    )


def readiness() -> tuple[int, dict]:
    """What ``/readyz`` answers: 503 until the service instance has loaded its model."""
    service = bentoml.get_current_service()
    if service is None:
        return 503, {"ready": False, "reason": "starting: the model is loading"}
    return service.readiness()


CustomerValueService.add_asgi_middleware(
    Guard,
    api_key=os.environ.get("CLV_API_KEY"),
    admin_key=os.environ.get("CLV_ADMIN_KEY"),
    max_body_bytes=int(os.environ.get("CLV_MAX_BODY_BYTES", str(32 * 1024 * 1024))),
    max_concurrency=int(os.environ.get("CLV_MAX_CONCURRENCY", "64")),  # over it: 429 (after reading the body)
    metrics=RequestMetrics(
        [*(api.route for api in CustomerValueService.apis.values()), *DOC_PATHS, *OPEN_PATHS],
        prefixes=[ASSETS],
    ),
    readiness=readiness,
)
CustomerValueService.add_asgi_middleware(Contract)  # inside Guard: the spec and error bodies as documented
CustomerValueService.add_asgi_middleware(HistoryOffload)  # inside both: history bodies to the worker processes
