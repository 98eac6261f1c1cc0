"""ASGI middleware of the service: optional API key, request size limit, concurrency limit, and 422 for invalid
input."""

from __future__ import annotations

import asyncio
import hmac
import json

OPEN_PATHS = ("/livez", "/readyz", "/healthz", "/metrics")
ADMIN_PATHS = ("/admin/",)  # need the admin key; locked (403) when none is configured
GET_AS_POST = ("/model",)  # read-only endpoints also answered on GET (the framework's APIs are POST)


def _reply(status: int, message: str):
    body = json.dumps({"error": message}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
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


class BodyTooLarge(Exception):
    """Raised inside the app's receive when the streamed body passes the limit."""


def check_key(name: str, value: str | None) -> str | None:
    """A configured key, or None when unset; a key set but empty is refused (it would silently mean "no key")."""
    if value is not None and not value.strip():
        raise ValueError(f"{name} is set but empty: set a key, or unset it")
    return value


class Guard:
    """``Authorization: Bearer <key>`` on every path but the health ones when ``api_key`` is set (constant-time
    compare) -> 401; ``/admin/*`` only with ``admin_key`` (401 otherwise), and 403 for everyone when no admin key
    is configured; a POST body that is not ``application/json`` -> 415 (so no web page can post a form to us); a
    body over ``max_body_bytes`` -> 413; more than ``max_concurrency`` requests at once -> 429; the framework's 400
    for invalid input -> 422. Every early answer is sent after the body has been read, so a client still sending
    reads it instead of a broken pipe (the framework's own concurrency limit answers first)."""

    def __init__(
        self,
        app,
        api_key: str | None = None,
        max_body_bytes: int = 32 * 1024 * 1024,
        max_concurrency: int | None = None,
        admin_key: str | None = None,
    ):
        self.app = app
        self.api_key = check_key("CLV_API_KEY", api_key)
        self.admin_key = check_key("CLV_ADMIN_KEY", admin_key)
        self.max_body_bytes = max_body_bytes
        self.max_concurrency = max_concurrency
        self._slots = asyncio.Semaphore(max_concurrency) if max_concurrency else None

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        refusal = self._refusal(scope, headers)
        if refusal:
            await _discard_body(receive)
            for message in _reply(*refusal):
                await send(message)
            return
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body_bytes:
            await _discard_body(receive)  # so that the client, still sending, can read the answer
            for message in _reply(413, f"request body over {self.max_body_bytes} bytes"):
                await send(message)
            return

        if self._slots is not None and not scope["path"].startswith(OPEN_PATHS):
            if self._slots.locked():
                await _discard_body(receive)
                for message in _reply(429, f"too many requests: at most {self.max_concurrency} at a time; retry later"):
                    await send(message)
                return
            async with self._slots:
                return await self._forward(scope, receive, send)
        return await self._forward(scope, receive, send)

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
            and not hmac.compare_digest(given, f"Bearer {self.api_key}".encode())
        ):
            return 401, "missing or wrong API key: send Authorization: Bearer <key>"
        if scope["method"] == "POST":
            kind = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
            if kind != b"application/json":
                return 415, "send the body as JSON with Content-Type: application/json"
        return None

    async def _forward(self, scope, receive, send):
        """The request, passed on: GET read-only endpoints as POST, the body counted against the limit, 400 -> 422."""
        if scope["method"] == "GET" and scope["path"] in GET_AS_POST:
            scope = {
                **scope,
                "method": "POST",
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"2")],
            }

            async def receive():  # noqa: F811 - an empty JSON object as the body
                return {"type": "http.request", "body": b"{}", "more_body": False}

        received = 0
        started = False

        async def counted_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:  # a chunked body carries no content-length to check up front
                    raise BodyTooLarge
            return message

        async def send_422(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                if message["status"] == 400:
                    message = {**message, "status": 422}
            await send(message)

        try:
            return await self.app(scope, counted_receive, send_422)
        except BodyTooLarge:
            if not started:
                for message in _reply(413, f"request body over {self.max_body_bytes} bytes"):
                    await send(message)
