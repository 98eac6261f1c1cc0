"""Schemathesis against the real service's own ``/docs.json``: no 5xx, every answer as documented (#11)."""

from __future__ import annotations

import json
import re

import pytest

from benchmarks.fuzz import fuzz, load_schema, operations, table, tracebacks
from features import ColumnMap, read_transactions
from tests.integration.conftest import AS_OF
from tests.integration.test_service import ADMIN, KEY, call, start_service

EXAMPLES = 25  # per operation and mode, derandomized: the same requests every run
RELOAD_EXAMPLES = 3  # each valid one reloads the model from the registry
OPERATIONS = [
    "GET /healthz", "GET /livez", "GET /readyz", "GET /metrics",
    "GET /model", "POST /model", "POST /predict", "POST /predict_history", "POST /admin/reload", "POST /target",
]  # fmt: skip


@pytest.fixture(scope="module")
def served(registered, trained, generated, mlflow_uri, tmp_path_factory):
    """``bentoml serve`` on the registered model (``customer-value@challenger``) and its scored snapshot."""
    from training.score import score

    folder = tmp_path_factory.mktemp("fuzz")
    log = read_transactions(generated["transactions"], ColumnMap(order="order_id", cost="cost"))
    score(log, AS_OF, trained.bundle).predictions.to_parquet(folder / "scores.parquet", index=False)
    env = {
        "MLFLOW_TRACKING_URI": mlflow_uri,
        "CLV_MODEL_URI": "models:/customer-value@challenger",
        "CLV_SNAPSHOT": str(folder / "scores.parquet"),
        "CLV_API_KEY": KEY,
        "CLV_ADMIN_KEY": ADMIN,
        "BENTOML_HOME": str(folder / "bentoml"),  # a server starting wipes its home's metrics: not another's
    }
    with start_service(env, folder / "service.log") as base:
        yield {"base": base, "folder": folder}


@pytest.fixture(scope="module")
def schema(served):
    return load_schema(served["base"], KEY)


def test_the_schema_lists_every_endpoint(schema):
    assert sorted(operations(schema)) == sorted(OPERATIONS)
    assert schema.raw_schema["openapi"] == "3.1.0"


@pytest.mark.parametrize("mode", ["positive", "negative"])
@pytest.mark.parametrize("label", OPERATIONS)
def test_generated_requests_get_no_5xx_and_documented_answers(served, schema, label, mode):
    operation = operations(schema)[label]
    n = RELOAD_EXAMPLES if label.startswith("POST /admin/") else EXAMPLES
    outcome = fuzz(operation, served["base"], KEY, ADMIN, n, mode)
    assert not outcome.failures, table([outcome]) + "\n\n" + "\n\n".join(outcome.failures[:3])
    assert outcome.server_errors == 0
    if mode == "positive" or label.startswith("POST"):  # a GET without parameters has no invalid request
        assert outcome.examples >= 1


def test_mixed_dates_and_datetimes_are_scored_not_a_500(served):
    rows = [  # an aware datetime, then a plain date: a column pyarrow could not convert (500)
        {"customer_id": "a", "date": "2024-02-01T10:30:00+05:00", "amount": 7.5},
        {"customer_id": "a", "date": "2024-03-01", "amount": 5.0},
        {"customer_id": "b", "date": "2024-03-01T08:00:00Z", "amount": 3.0},
    ]
    status, body = call(served["base"], "/predict_history", {"as_of": "2025-01-01", "transactions": rows})
    assert status == 200, body
    assert sorted(p["customer_id"] for p in body["predictions"]) == ["a", "b"]


def test_an_invalid_argument_is_a_json_object_naming_the_problem(served):
    body = {"as_of": "0001-01-01", "transactions": [{"customer_id": "a", "date": "2024-01-01", "amount": 1}]}
    status, reply = call(served["base"], "/predict_history", body)
    assert status == 422 and isinstance(reply, dict) and "as_of" in reply["error"], reply


def test_a_4xx_is_one_log_line_without_traceback(served):
    log = served["folder"] / "service.log"
    before = log.read_text()
    bad = [{"customer_ids": []}, {"customer_ids": "x"}, {"ids": ["a"]}]
    assert [call(served["base"], "/predict", b)[0] for b in bad] == [422, 422, 422]
    status, _ = call(served["base"], "/predict_history", {"as_of": "0001-01-01", "transactions": [
        {"customer_id": "a", "date": "2024-01-01", "amount": 1}]})  # fmt: skip
    assert status == 422
    new = _wait_for_lines(log, before, 4)
    assert tracebacks(new) == 0 and "Exception on" not in new, new
    assert len(re.findall(r"\[WARNING\].* POST /predict(_history)? -> 422: ", new)) == 4, new  # one line each


def _wait_for_lines(log, before: str, n: int) -> str:
    """The log's text after ``before``, once it holds ``n`` access lines (the server flushes them as it goes)."""
    import time

    deadline = time.time() + 10
    while True:
        new = log.read_text()[len(before) :]
        if len(re.findall(r"status=4\d\d", new)) >= n or time.time() > deadline:
            return new
        time.sleep(0.1)


def test_the_served_spec_documents_422_with_its_detail_list(served):
    status, spec = call(served["base"], "/docs.json")
    assert status == 200
    responses = spec["paths"]["/predict"]["post"]["responses"]
    assert "400" not in responses and "422" in responses, json.dumps(responses)[:500]
