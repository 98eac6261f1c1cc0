"""The wire as documented: the API page and ``/docs.json`` (built in ``serving.openapi``) describing what the service
really answers, and error bodies made to match it (ASGI middleware, inside ``Guard``)."""

from __future__ import annotations

import json

from serving.openapi import DOCUMENTS, PAGE, PAGE_POLICY, SPEC, build_spec


def _unwrap(body: bytes) -> bytes:
    """``[{"error": ...}]`` (the framework's tuple for a 4xx BentoMLException) as ``{"error": ...}``."""
    try:
        value = json.loads(body)
    except ValueError:
        return body
    if isinstance(value, list) and len(value) == 1 and isinstance(value[0], dict):
        return json.dumps(value[0]).encode()
    return body


class Contract:
    """Serves the API page and its script, our spec on ``GET /docs.json`` (built once from the framework's), and
    unwraps one-element-list error bodies."""

    def __init__(self, app):
        self.app = app
        self.spec: bytes | None = None

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        if scope["method"] == "GET" and scope["path"] in DOCUMENTS:
            return await _document(send, *DOCUMENTS[scope["path"]], scope["path"] == PAGE)
        docs = scope["method"] == "GET" and scope["path"] == SPEC
        if docs and self.spec is not None:
            return await _document(send, b"application/json", self.spec)
        held: list[dict] = []
        chunks: list[bytes] = []

        async def rewrite(message):
            if message["type"] == "http.response.start":
                if (docs and message["status"] == 200) or message["status"] >= 400:
                    held.append(message)
                    return
            elif message["type"] == "http.response.body" and held:
                chunks.append(message.get("body", b""))
                if message.get("more_body"):
                    return
                body = b"".join(chunks)
                if docs and held[0]["status"] == 200:
                    body = self.spec = json.dumps(build_spec(json.loads(body))).encode()
                else:
                    body = _unwrap(body)
                start = held[0]
                headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
                await send({**start, "headers": [*headers, (b"content-length", str(len(body)).encode())]})
                message = {"type": "http.response.body", "body": body}
            await send(message)

        return await self.app(scope, receive, rewrite)


async def _document(send, content_type: bytes, body: bytes, page: bool = False) -> None:
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    if page:
        headers.append((b"content-security-policy", PAGE_POLICY))
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})
