"""Scores from a posted purchase history, computed in worker processes: parsing, validating and scoring 100,000
transactions holds the interpreter for seconds, which in the serving process would stall every lookup. A worker
holds the bundle of one model version; requests reach it as the raw JSON body and come back as response bytes."""

from __future__ import annotations

import datetime as dt
import json
import multiprocessing
import multiprocessing.connection
import os
import signal
import threading
import time
from concurrent.futures import ProcessPoolExecutor

import pandas as pd
from pydantic import BaseModel, ValidationError

from features import InputError, build_features, read_transactions
from models.bundle import ModelBundle
from serving.schemas import PredictResponse, Transactions
from serving.snapshot import record


class HistoryRequest(BaseModel):
    """The body of ``/predict_history`` (the endpoint's parameters, as one model)."""

    as_of: dt.date
    transactions: Transactions
    reasons: bool = True


def score_history(
    bundle: ModelBundle, as_of: dt.date, transactions: list[dict], reasons: bool = True
) -> tuple[list[dict], list[str]]:
    """Prediction records of the customers with a purchase before ``as_of``, and the ids without one.
    Raises ``features.InputError`` for a history the feature code cannot use."""
    frame = pd.DataFrame(transactions, columns=["customer_id", "date", "amount"])
    ids = set(frame["customer_id"])
    feats = build_features(read_transactions(frame), as_of, bundle.feature_windows())
    if feats.empty:
        return [], sorted(ids)
    pred = bundle.predict(feats, reasons=reasons)
    cols = {c: pred[c].to_numpy() for c in pred.columns}
    rows = [record(cols, i) for i in range(len(pred))]
    return rows, sorted(ids - {r["customer_id"] for r in rows})


class _Worker:
    """What one worker process holds: set once by the pool's initializer, read by every task it runs."""

    bundle: ModelBundle | None = None
    version: str = ""


def _start_worker(bundle_json: bytes, version: str) -> None:
    # A stop signal is for the server: it drains its requests, then shuts this pool down; work in hand finishes.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_exit_with_parent, daemon=True).start()
    _Worker.bundle = ModelBundle.from_dict(json.loads(bundle_json))
    _Worker.version = version


def _exit_with_parent() -> None:
    """A server killed outright (SIGKILL, out of memory) must not leave its workers behind."""
    multiprocessing.connection.wait([multiprocessing.parent_process().sentinel])
    os._exit(0)


def answer(body: bytes) -> tuple[int, bytes]:
    """The HTTP status and JSON body answering one ``/predict_history`` body (runs in a worker)."""
    try:
        request = HistoryRequest.model_validate_json(body)
    except ValidationError as exc:  # the same shape as the framework's 422
        detail = exc.errors(include_context=False, include_input=False, include_url=False)
        return 422, json.dumps({"error": f"{exc.error_count()} validation error for Input", "detail": detail}).encode()
    dumped = [t.model_dump(mode="json") for t in request.transactions]  # dates as sent: read as from a CSV
    try:
        rows, unknown = score_history(_Worker.bundle, request.as_of, dumped, request.reasons)
    except InputError as exc:
        return 422, json.dumps({"error": str(exc)}).encode()
    response = PredictResponse(model_version=_Worker.version, predictions=rows, unknown_ids=unknown)
    return 200, response.model_dump_json().encode()


def _ready() -> int:
    time.sleep(0.05)  # held briefly, so that each probe lands on a different worker
    return os.getpid() if _Worker.bundle is not None else 0


def start_workers(bundle: ModelBundle, version: str, workers: int) -> ProcessPoolExecutor:
    """A pool of ``workers`` processes (spawned: the server's threads must not be forked) holding ``bundle``, each
    started and loaded before this returns."""
    pool = ProcessPoolExecutor(
        workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_start_worker,
        initargs=(json.dumps(bundle.to_dict()).encode(), version),
    )
    pids = {done.result() for done in [pool.submit(_ready) for _ in range(workers)]}
    if 0 in pids:
        pool.shutdown()
        raise RuntimeError("a history worker did not load the model")
    return pool
