"""The wire as documented, on its own with tiny apps: the corrected spec, unwrapped error bodies, quiet 4xx logs."""

from __future__ import annotations

import asyncio
import json
from importlib.metadata import version
from unittest.mock import ANY

from serving.contract import Contract
from serving.openapi import PAGE_POLICY, build_spec


def _body(title: str) -> dict:
    return {"content": {"application/json": {"schema": {"type": "object", "title": title, "properties": {}}}}}


SPEC = {  # the framework's spec, as much of it as build_spec reads
    "openapi": "3.0.2",
    "info": {"title": "customer_value", "version": "None", "contact": {"name": "BentoML Team"}},
    "components": {"schemas": {"predict__Input": {}, "NotFound": {}, "TaskStatusResponse": {}, "Prediction": {}}},
    "paths": {
        "/livez": {"get": {"responses": {"200": {"description": "ok"}}, "description": "Health check"}},
        "/predict": {
            "post": {
                "requestBody": _body("Input"),
                "responses": {"200": _body("PredictResponseIODescriptor"), "400": {}, "404": {}, "500": {}},
                "description": "Scores by id",
            }
        },
        "/model": {"post": {"requestBody": _body("Input"), "responses": {"200": _body("ModelInfoIODescriptor")}}},
        "/admin/reload": {
            "post": {"requestBody": _body("Input"), "responses": {"200": _body("ModelInfoIODescriptor")}}
        },
    },
}
ERROR = {"$ref": "#/components/schemas/Error"}


def app_answering(status: int, body: bytes, chunks: int = 1):
    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": status, "headers": [(b"content-length", b"999")]})
        step = max(1, len(body) // chunks)
        parts = [body[i : i + step] for i in range(0, len(body), step)] or [b""]
        for i, part in enumerate(parts):
            await send({"type": "http.response.body", "body": part, "more_body": i < len(parts) - 1})

    return app


def run(app, path="/predict", method="POST"):
    """Status, headers and body answered by ``Contract(app)`` (or by ``app`` itself when it is a ``Contract``)."""
    sent = []

    async def receive():
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message):
        sent.append(message)

    contract = app if isinstance(app, Contract) else Contract(app)
    asyncio.run(contract({"type": "http", "path": path, "method": method, "headers": []}, receive, send))
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return sent[0]["status"], dict(sent[0]["headers"]), body


def test_the_spec_is_ours_with_422_the_refusals_the_keys_and_openapi_3_1():
    spec = build_spec(SPEC)
    predict = spec["paths"]["/predict"]["post"]
    assert spec["openapi"] == "3.1.0" and SPEC["openapi"] == "3.0.2"  # the input is left alone
    assert spec["info"]["title"] == "Customer value API" and spec["info"]["version"] == version("customer-value")
    assert "contact" not in spec["info"] and "bentoml" not in json.dumps(spec).lower()
    assert set(predict["responses"]) == {"200", "401", "404", "413", "415", "422", "429", "500", "504"}
    assert all(
        r["content"]["application/json"]["schema"] == ERROR for s, r in predict["responses"].items() if s != "200"
    )
    assert predict["requestBody"]["required"] is True and predict["summary"] and predict["tags"] == ["Scores"]
    assert predict["requestBody"]["content"]["application/json"]["example"] == {"customer_ids": ANY}
    reload = spec["paths"]["/admin/reload"]["post"]
    assert "403" in reload["responses"] and reload["security"] == [{"adminKey": []}]
    assert spec["paths"]["/livez"]["get"]["security"] == [] and spec["security"] == [{"apiKey": []}]
    assert spec["components"]["securitySchemes"]["apiKey"] == {"type": "http", "scheme": "bearer", "description": ANY}
    assert sorted(spec["components"]["schemas"]) == [
        "Empty", "Error", "ModelInfo", "PredictRequest", "PredictResponse", "Prediction"
    ]  # fmt: skip
    assert spec["components"]["schemas"]["PredictResponse"]["title"] == "PredictResponse"
    detail = spec["components"]["schemas"]["Error"]["properties"]["detail"]
    assert {"type": "array", "items": {"type": "object"}} in detail["anyOf"]  # the framework's list of field errors


def test_an_operation_not_described_yet_is_kept_not_hidden():
    framework = SPEC | {
        "paths": SPEC["paths"]
        | {"/new": {"post": {"requestBody": _body("Input"), "responses": {"200": _body("NewIODescriptor")}}}}
    }
    spec = build_spec(framework)
    new = spec["paths"]["/new"]["post"]
    assert new["tags"] == ["Other"] and "Other" in [t["name"] for t in spec["tags"]]
    assert new["requestBody"]["required"] is True and {"401", "422", "429"} <= set(new["responses"])
    assert "Other" not in [t["name"] for t in build_spec(SPEC)["tags"]]


def test_get_model_is_documented_beside_post():
    model = build_spec(SPEC)["paths"]["/model"]
    assert set(model) == {"get", "post"} and "requestBody" not in model["get"]
    assert model["get"]["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ModelInfo"
    }
    assert {"413", "415", "422"}.isdisjoint(model["get"]["responses"])  # no body, nothing to refuse in it


def test_a_one_element_list_error_body_is_unwrapped_with_its_length():
    status, headers, body = run(app_answering(400, b'[{"error": "no snapshot"}]', chunks=3))
    assert status == 400 and json.loads(body) == {"error": "no snapshot"}
    assert headers[b"content-length"] == str(len(body)).encode()
    assert (
        run(app_answering(422, b'{"error": "x", "detail": [{"loc": []}]}'))[2]
        == b'{"error": "x", "detail": [{"loc": []}]}'
    )
    assert run(app_answering(200, b'[{"a": 1}]'))[2] == b'[{"a": 1}]'  # success bodies pass untouched
    assert run(app_answering(405, b"Method Not Allowed"))[2] == b"Method Not Allowed"


def test_docs_json_is_served_corrected():
    framework = {"calls": 0}

    async def app(scope, receive, send):
        framework["calls"] += 1
        await app_answering(200, json.dumps(SPEC).encode(), chunks=4)(scope, receive, send)

    contract = Contract(app)
    status, headers, body = run(contract, "/docs.json", "GET")
    assert status == 200 and json.loads(body) == build_spec(SPEC)
    assert headers[b"content-length"] == str(len(body)).encode()
    assert run(contract, "/docs.json", "GET")[2] == body and framework["calls"] == 1  # built once


def test_the_page_and_its_script_are_served_with_a_same_origin_policy():
    status, headers, body = run(app_answering(404, b""), "/", "GET")
    assert status == 200 and headers[b"content-type"].startswith(b"text/html")
    assert headers[b"content-security-policy"] == PAGE_POLICY and b"default-src 'none'" in PAGE_POLICY
    assert b'<script src="./docs.js">' in body and b"http" not in body
    status, headers, script = run(app_answering(404, b""), "/docs.js", "GET")
    assert status == 200 and b"validatorUrl: null" in script and b"./docs.json" in script
    assert run(app_answering(405, b"no"), "/", "POST")[0] == 405  # only GET is the page
