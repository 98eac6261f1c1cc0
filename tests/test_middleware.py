"""The ASGI guard on its own, with a tiny app: key (open API page), size limit (declared and streamed), 400 -> 422,
GET /model."""

from __future__ import annotations

import asyncio
import contextlib

from serving.middleware import Guard


async def echo_app(scope, receive, send):
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    status = 400 if body == b"bad" else 200
    await send({"type": "http.response.start", "status": status, "headers": []})
    await send({"type": "http.response.body", "body": scope["method"].encode() + b" " + body})


JSON = (b"content-type", b"application/json")


def run(guard, path="/predict", method="POST", headers=(JSON,), chunks=(b"{}",)):
    sent = []
    queue = [{"type": "http.request", "body": c, "more_body": i < len(chunks) - 1} for i, c in enumerate(chunks)]

    async def receive():
        return queue.pop(0) if queue else {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "path": path, "method": method, "headers": list(headers)}
    asyncio.run(guard(scope, receive, send))
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")


def test_api_key_is_required_except_on_health_paths():
    guard = Guard(echo_app, api_key="k")
    assert run(guard)[0] == 401
    assert run(guard, headers=[JSON, (b"authorization", b"Bearer wrong")])[0] == 401
    assert run(guard, headers=[JSON, (b"authorization", b"Bearer k")])[0] == 200
    assert run(guard, path="/readyz", method="GET")[0] == 200


def test_the_api_page_its_spec_and_assets_are_open_on_get_only():
    guard = Guard(echo_app, api_key="k")
    for path in ("/", "/docs.json", "/docs.js", "/static_content/swagger-ui-bundle.js"):
        assert run(guard, path=path, method="GET", headers=[])[0] == 200, path
        assert run(guard, path=path, method="POST")[0] == 401, path  # a POST is never documentation
    for path in ("/model", "/docs.json/x", "/static_content", "/predict"):
        assert run(guard, path=path, method="GET", headers=[])[0] == 401, path


def test_declared_and_streamed_bodies_over_the_limit_are_413():
    guard = Guard(echo_app, max_body_bytes=10)
    assert run(guard, headers=[JSON, (b"content-length", b"11")])[0] == 413
    status, body = run(guard, chunks=(b"12345", b"67890", b"x"))  # no content-length, 11 bytes in chunks
    assert status == 413 and b"over 10 bytes" in body
    assert run(guard, chunks=(b"12345", b"67890"))[0] == 200


def test_invalid_input_becomes_422_and_get_model_becomes_post():
    guard = Guard(echo_app)
    assert run(guard, chunks=(b"bad",))[0] == 422
    status, body = run(guard, path="/model", method="GET", chunks=())
    assert status == 200 and body == b"POST {}"


def test_over_the_concurrency_limit_is_429_after_the_body_is_read():
    """One slot: while a request holds it, the next gets 429, and only once its whole body was read (a client still
    sending would otherwise meet a broken pipe instead of the answer); the health paths are never limited."""
    release = asyncio.Event()

    async def slow_app(scope, receive, send):
        if scope["path"] == "/predict":
            await release.wait()
        await echo_app(scope, receive, send)

    guard = Guard(slow_app, max_concurrency=1)

    async def scenario():
        sent: list[dict] = []
        chunks = [{"type": "http.request", "body": b"ab", "more_body": True}, {"type": "http.request", "body": b"c"}]

        async def receive():
            return chunks.pop(0)

        async def send(message):
            sent.append(message)

        holder = asyncio.create_task(guard({"type": "http", "path": "/predict", "method": "POST", "headers": [JSON]},
                                           lambda: asyncio.sleep(0, {"type": "http.request", "body": b"{}"}),
                                           lambda m: asyncio.sleep(0)))  # fmt: skip
        await asyncio.sleep(0.01)
        await guard({"type": "http", "path": "/predict", "method": "POST", "headers": [JSON]}, receive, send)
        health = []  # asked while the slot is still held
        await guard({"type": "http", "path": "/readyz", "method": "GET", "headers": []},
                    lambda: asyncio.sleep(0, {"type": "http.request", "body": b""}),
                    lambda m: asyncio.sleep(0, health.append(m)))  # fmt: skip
        release.set()
        await holder
        return sent, chunks, health

    sent, left, health = asyncio.run(scenario())
    assert sent[0]["status"] == 429 and b"at most 1 at a time" in sent[1]["body"]
    assert left == []  # both chunks of the rejected body were read before answering
    assert health[0]["status"] == 200


def test_admin_paths_are_locked_without_an_admin_key_and_need_it_with_one():
    api = (b"authorization", b"Bearer k")
    locked = Guard(echo_app, api_key="k")
    status, body = run(locked, path="/admin/reload", headers=[JSON, api])
    assert status == 403 and b"CLV_ADMIN_KEY" in body
    assert run(Guard(echo_app), path="/admin/reload")[0] == 403  # no keys at all: still locked
    guard = Guard(echo_app, api_key="k", admin_key="a")
    assert run(guard, path="/admin/reload", headers=[JSON, api])[0] == 401  # the API key does not open admin
    assert run(guard, path="/admin/reload", headers=[JSON, (b"authorization", b"Bearer a")])[0] == 200
    assert run(guard, headers=[JSON, (b"authorization", b"Bearer a")])[0] == 401  # nor the admin key the API


def test_post_bodies_must_be_json():
    guard = Guard(echo_app)
    for kind in (b"text/plain", b"application/x-www-form-urlencoded", b"multipart/form-data; boundary=x"):
        status, body = run(guard, headers=[(b"content-type", kind)])
        assert status == 415 and b"application/json" in body
    assert run(guard, headers=[])[0] == 415  # no content type
    assert run(guard, headers=[(b"content-type", b"Application/JSON; charset=utf-8")])[0] == 200
    assert run(guard, path="/model", method="GET", headers=[], chunks=())[0] == 200  # GET needs no body


def test_empty_keys_are_refused_at_start():
    import pytest

    for key in ("", "  "):
        with pytest.raises(ValueError, match="CLV_API_KEY is set but empty"):
            Guard(echo_app, api_key=key)
        with pytest.raises(ValueError, match="CLV_ADMIN_KEY is set but empty"):
            Guard(echo_app, admin_key=key)


def test_metrics_label_unknown_paths_as_one_and_readyz_is_answered_by_the_guard():
    from serving.metrics import RequestMetrics

    metrics = RequestMetrics(["/predict", "/readyz"], prefixes=["/static_content/"])
    guard = Guard(echo_app, api_key="k", metrics=metrics, readiness=lambda: (200, {"ready": True, "v": "3"}))
    for i in range(50):
        run(guard, path=f"/x{i}", method="GET")  # 401: no key
    run(guard, path="/static_content/a.js", method="GET", headers=[(b"authorization", b"Bearer k")])
    run(guard, headers=[JSON, (b"authorization", b"Bearer k")])
    status, text = run(guard, path="/metrics", method="GET")
    assert status == 200
    counts = {
        line.split(" ")[0]: float(line.split(" ")[1])
        for line in text.decode().splitlines()
        if line.startswith("clv_requests_total")
    }
    assert counts == {
        'clv_requests_total{endpoint="unmatched",method="GET",status="401"}': 50.0,
        'clv_requests_total{endpoint="/static_content/",method="GET",status="200"}': 1.0,
        'clv_requests_total{endpoint="/predict",method="POST",status="200"}': 1.0,
    }
    assert run(guard, path="/readyz", method="GET") == (200, b'{"ready": true, "v": "3"}')


def test_the_pool_refuses_work_beyond_its_size_and_frees_a_slot_only_when_the_work_ends():
    import threading
    from concurrent.futures import ThreadPoolExecutor

    import pytest

    from serving.pool import BoundedPool, PoolFull

    pool = BoundedPool(ThreadPoolExecutor(1), 1)
    gate = threading.Event()

    async def scenario():
        first = asyncio.ensure_future(pool.run(gate.wait))
        await asyncio.sleep(0.05)
        with pytest.raises(PoolFull, match="at most 1 at a time"):
            await pool.run(lambda: None)
        first.cancel()  # the caller gives up (a timeout): the work still runs and holds its slot
        await asyncio.sleep(0.05)
        assert pool.busy() == 1
        with pytest.raises(PoolFull):
            await pool.run(lambda: None)
        gate.set()
        for _ in range(100):
            if pool.busy() == 0:
                break
            await asyncio.sleep(0.01)
        return await pool.run(lambda: 42)

    assert asyncio.run(scenario()) == 42
    pool.shutdown()


def test_client_errors_are_logged_on_one_line_and_server_errors_keep_their_traceback():
    import logging

    from bentoml.exceptions import InvalidArgument, NotFound
    from pydantic import BaseModel, ValidationError

    from serving.errors import ClientErrorsOnOneLine

    class Input(BaseModel):  # the framework's name for a request model
        customer_ids: list[str]

    class PredictResponse(BaseModel):
        customer_ids: list[str]

    def logged(exc: Exception) -> logging.LogRecord:
        try:
            raise exc
        except Exception:
            import sys

            record = logging.LogRecord(
                "x", logging.ERROR, "f", 1, "Exception on %s [%s]", ("/p", "POST"), sys.exc_info()
            )
        assert ClientErrorsOnOneLine().filter(record)
        return record

    try:
        Input.model_validate({})
    except ValidationError as exc:
        record = logged(exc)
    try:
        PredictResponse.model_validate({})
    except ValidationError as exc:
        response_record = logged(exc)
    assert response_record.exc_info is not None  # a response model failing is the server's bug: traceback kept
    assert record.getMessage() == "POST /p -> 422: 1 validation error(s): customer_ids: Field required"
    assert record.exc_info is None and record.levelname == "WARNING"
    assert logged(InvalidArgument("as_of is too early\nmore")).getMessage() == "POST /p -> 422: as_of is too early"
    assert logged(NotFound("no snapshot")).getMessage() == "POST /p -> 404: no snapshot"
    server = logged(RuntimeError("boom"))
    assert server.exc_info is not None and server.levelname == "ERROR"


def test_refusals_say_how_to_authenticate_and_when_to_retry_and_timeouts_count_as_504():
    from serving.metrics import RequestMetrics

    sent = []

    async def capture(guard, path="/predict"):
        async def receive():
            return {"type": "http.request", "body": b"{}"}

        async def send(message):
            sent.append(message)

        scope = {"type": "http", "path": path, "method": "POST", "headers": [JSON]}
        await guard(scope, receive, send)

    asyncio.run(capture(Guard(echo_app, api_key="k")))
    assert (b"www-authenticate", b'Bearer realm="customer-value"') in sent[0]["headers"]

    async def never(scope, receive, send):
        await asyncio.sleep(10)

    metrics = RequestMetrics(["/predict"])
    guard = Guard(never, metrics=metrics)

    async def timed_out():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(capture(guard), 0.05)

    asyncio.run(timed_out())
    assert b'clv_requests_total{endpoint="/predict",method="POST",status="504"} 1.0' in metrics.exposition()
