"""ASGI middleware of the service: API and admin keys, JSON-only posts, request size and concurrency limits, 422 for
invalid input, bounded metrics and a readiness answer that says what is loaded."""

from __future__ import annotations

import asyncio
import hmac
import json
import time
from collections.abc import Callable

from serving.metrics import CONTENT_TYPE, RequestMetrics
from serving.openapi import ASSETS, DOC_PATHS, HEALTH_PATHS

OPEN_PATHS = HEALTH_PATHS
ADMIN_PATHS = ("/admin/",)  # need the admin key; locked (403) when none is configured
EXTRA_HEADERS = {  # what the status asks for: the scheme to authenticate with, when to come back
    401: [(b"www-authenticate", b'Bearer realm="customer-value"')],
    429: [(b"retry-after", b"1")],
}
GET_AS_POST = ("/model",)  # read-only endpoints also answered on GET (the framework's APIs are POST)


def _reply(status: int, message: str | dict, content_type: bytes = b"application/json"):
    body = (
        message
        if isinstance(message, bytes)
        else json.dumps(message if isinstance(message, dict) else {"error": message}).encode()
    )
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    headers += EXTRA_HEADERS.get(status, [])
    return {"type": "http.response.start", "status": status, "headers": headers}, {
        "type": "http.response.body",
        "body": body,
    }


async def _discard_body(receive, cap: int = 256 * 1024 * 1024) -> None:
    """Read and drop the request body (up to ``cap`` bytes)."""
    seen = 0
    while seen <= cap:
        message = await receive()
        if message["type"] != "http.request":
            return
        seen += len(message.get("body", b""))
        if not message.get("more_body"):
            return


def _documentation(scope) -> bool:
    """A GET of the API page, its spec or its assets: open, they describe the API and hold no data."""
    return scope["method"] == "GET" and (scope["path"] in DOC_PATHS or scope["path"].startswith(ASSETS))


def check_key(name: str, value: str | None) -> str | None:
    """A configured key, or None when unset; a key set but empty is refused (it would silently mean "no key")."""
    if value is not None and not value.strip():
        raise ValueError(f"{name} is set but empty: set a key, or unset it")
    return value


class Guard:
    """``Authorization: Bearer <key>`` on every path but the health and documentation ones (GET of the API page, its
    spec and assets) when ``api_key`` is set (constant-time compare) -> 401; ``/admin/*`` only with ``admin_key``
    (401 otherwise), and 403 for everyone when no admin key is configured; a POST body that is not
    ``application/json`` -> 415 (so no web page can post a form to us); a body over ``max_body_bytes``, declared
    or streamed -> 413; more than ``max_concurrency`` requests at once -> 429; the framework's 400 for invalid
    input -> 422. The body is read whole before the service sees it, so a client still sending reads the answer
    instead of a broken pipe, and a chunked body over the limit is a 413, not an error inside the framework.
    ``/metrics`` and ``/readyz`` are answered here (see ``metrics``, ``readiness``)."""

    def __init__(
        self,
        app,
        api_key: str | None = None,
        max_body_bytes: int = 32 * 1024 * 1024,
        max_concurrency: int | None = None,
        admin_key: str | None = None,
        metrics: RequestMetrics | None = None,
        readiness: Callable[[], tuple[int, dict]] | None = None,
    ):
        self.app = app
        self.api_key = check_key("CLV_API_KEY", api_key)
        self.admin_key = check_key("CLV_ADMIN_KEY", admin_key)
        self.max_body_bytes = max_body_bytes
        self.max_concurrency = max_concurrency
        self.metrics = metrics
        self.readiness = readiness
        self._slots = asyncio.Semaphore(max_concurrency) if max_concurrency else None

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        if self.metrics is None or scope["path"] == "/metrics":
            return await self._handle(scope, receive, send)
        endpoint = self.metrics.endpoint(scope["path"])
        status = 500  # unless the app answers: a dropped connection or a crash counts as one
        started = time.perf_counter()

        async def observed_send(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        gauge = self.metrics.in_progress.labels(endpoint)
        gauge.inc()
        try:
            await self._handle(scope, receive, observed_send)
        except asyncio.CancelledError:  # the framework's timeout, outside this middleware, answers 504
            status = 504
            raise
        finally:
            gauge.dec()
            self.metrics.observe(endpoint, scope["method"], status, time.perf_counter() - started)

    async def _handle(self, scope, receive, send):
        headers = dict(scope.get("headers") or [])
        local = self._local_answer(scope)
        if local is not None:
            await _discard_body(receive)
            for message in _reply(*local):
                await send(message)
            return
        refusal = self._refusal(scope, headers)
        if refusal:
            await _discard_body(receive)
            for message in _reply(*refusal):
                await send(message)
            return
        if self._slots is not None and not scope["path"].startswith(OPEN_PATHS):
            if self._slots.locked():
                await _discard_body(receive)
                for message in _reply(429, f"too many requests: at most {self.max_concurrency} at a time; retry later"):
                    await send(message)
                return
            async with self._slots:
                return await self._read_and_forward(scope, receive, send)
        return await self._read_and_forward(scope, receive, send)

    async def _read_and_forward(self, scope, receive, send):
        body = await self._read_body(receive)
        if body is None:
            for message in _reply(413, f"request body over {self.max_body_bytes} bytes"):
                await send(message)
            return
        return await self._forward(scope, body, receive, send)

    def _local_answer(self, scope) -> tuple | None:
        """``/metrics`` (bounded labels) and ``/readyz`` (with what is loaded and the reload state), or None."""
        if scope["method"] != "GET":
            return None
        if scope["path"] == "/metrics" and self.metrics is not None:
            return 200, self.metrics.exposition(), CONTENT_TYPE.encode()
        if scope["path"] == "/readyz" and self.readiness is not None:
            return self.readiness()
        return None

    async def _read_body(self, receive) -> bytes | None:
        """The whole request body, or None once it passes ``max_body_bytes`` (the rest is read and dropped)."""
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                if message.get("more_body"):
                    await _discard_body(receive)
                return None
            chunks.append(chunk)
            if not message.get("more_body"):
                break
        return b"".join(chunks)

    def _refusal(self, scope, headers: dict) -> tuple[int, str] | None:
        """The status and message of a request refused before it reaches the service, or None."""
        path = scope["path"]
        given = headers.get(b"authorization", b"")
        if path.startswith(ADMIN_PATHS):
            if not self.admin_key:
                return 403, "admin endpoints are locked: start the service with CLV_ADMIN_KEY set to use them"
            if not hmac.compare_digest(given, f"Bearer {self.admin_key}".encode()):
                return 401, "missing or wrong admin key: send Authorization: Bearer <CLV_ADMIN_KEY>"
        elif (
            self.api_key
            and not path.startswith(OPEN_PATHS)
            and not _documentation(scope)
            and not hmac.compare_digest(given, f"Bearer {self.api_key}".encode())
        ):
            return 401, "missing or wrong API key: send Authorization: Bearer <key>"
        if scope["method"] == "POST":
            kind = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
            if kind != b"application/json":
                return 415, "send the body as JSON with Content-Type: application/json"
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body_bytes:
            return 413, f"request body over {self.max_body_bytes} bytes"
        return None

    async def _forward(self, scope, body: bytes, receive, send):
        """The request with its body replayed: GET read-only endpoints as POST, the framework's 400 as 422."""
        if scope["method"] == "GET" and scope["path"] in GET_AS_POST:
            scope = {
                **scope,
                "method": "POST",
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"2")],
            }
            body = b"{}"
        replayed = False

        async def replay():
            nonlocal replayed
            if replayed:
                return await receive()  # after the body: the client's disconnect, when it comes
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def send_422(message):
            if message["type"] == "http.response.start" and message["status"] == 400:
                message = {**message, "status": 422}
            await send(message)

        return await self.app(scope, replay, send_422)
