"""``POST /predict_history`` answered from the raw body by the service's history workers (ASGI middleware, inside
``Guard``): the serving process never parses or validates the body, so lookups are not held up by it."""

from __future__ import annotations

import json
import logging
from concurrent.futures import BrokenExecutor

import bentoml

from serving.pool import PoolFull

PATH = "/predict_history"
log = logging.getLogger(__name__)


class HistoryOffload:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != PATH:
            return await self.app(scope, receive, send)
        service = bentoml.get_current_service()
        if service is None:
            return await self.app(scope, receive, send)
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        try:
            status, payload = await service.answer_history(bytes(body))
        except PoolFull as exc:
            status, payload = 429, json.dumps({"error": f"history scoring is busy ({exc}): retry later"}).encode()
        except BrokenExecutor:  # a worker died (killed from outside, out of memory): new ones are being started
            log.error("a history worker process died; starting new ones")
            status, payload = 503, json.dumps({"error": "history scoring is restarting its workers: retry shortly"})
            payload = payload.encode()
        except Exception:  # a bug, not the request: logged with its traceback, answered as JSON
            log.exception("POST %s failed", PATH)
            status, payload = 500, json.dumps({"error": "an unexpected error occurred; see the server log"}).encode()
        if status >= 400:
            log.warning("POST %s -> %d: %s", PATH, status, payload[:300].decode(errors="replace"))
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})
