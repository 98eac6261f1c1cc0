"""The wire as documented, on its own with tiny apps: the corrected spec, unwrapped error bodies, quiet 4xx logs."""

from __future__ import annotations

import asyncio
import json

from serving.contract import Contract, fix_spec

SPEC = {
    "openapi": "3.0.2",
    "components": {"schemas": {}},
    "paths": {
        "/livez": {"get": {"responses": {"200": {"description": "ok"}}}},
        "/predict": {
            "post": {
                "requestBody": {"content": {"application/json": {"schema": {"type": "object"}}}},
                "responses": {"200": {"description": "ok"}, "400": {"description": "bad"}, "404": {}, "500": {}},
            }
        },
        "/admin/reload": {"post": {"requestBody": {"content": {}}, "responses": {"200": {}, "400": {}}}},
    },
}


def app_answering(status: int, body: bytes, chunks: int = 1):
    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": status, "headers": [(b"content-length", b"999")]})
        step = max(1, len(body) // chunks)
        parts = [body[i : i + step] for i in range(0, len(body), step)] or [b""]
        for i, part in enumerate(parts):
            await send({"type": "http.response.body", "body": part, "more_body": i < len(parts) - 1})

    return app


def run(app, path="/predict", method="POST"):
    sent = []

    async def receive():
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message):
        sent.append(message)

    asyncio.run(Contract(app)({"type": "http", "path": path, "method": method, "headers": []}, receive, send))
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return sent[0]["status"], dict(sent[0]["headers"]), body


def test_the_spec_says_422_the_refusals_the_key_and_openapi_3_1():
    spec = fix_spec(SPEC)
    predict = spec["paths"]["/predict"]["post"]
    assert spec["openapi"] == "3.1.0" and SPEC["openapi"] == "3.0.2"  # the input is left alone
    assert "400" not in predict["responses"] and {"401", "413", "415", "422", "429", "504"} <= set(predict["responses"])
    assert predict["requestBody"]["required"] is True
    assert "403" in spec["paths"]["/admin/reload"]["post"]["responses"]
    assert spec["paths"]["/livez"]["get"]["security"] == [] and spec["security"] == [{"bearer": []}]
    detail = spec["components"]["schemas"]["InvalidInput"]["properties"]["detail"]
    assert {"type": "array", "items": {"type": "object"}} in detail["anyOf"]  # the framework's list of field errors


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
    status, headers, body = run(app_answering(200, json.dumps(SPEC).encode(), chunks=4), "/docs.json", "GET")
    assert status == 200 and json.loads(body) == fix_spec(SPEC)
    assert headers[b"content-length"] == str(len(body)).encode()
