"""The wire as documented: ``/docs.json`` made to describe what the service really answers, and error bodies
made to match it (ASGI middleware, inside ``Guard``)."""

from __future__ import annotations

import copy
import json

DOCS = "/docs.json"
OPEN_PATHS = ("/livez", "/readyz", "/healthz", "/metrics")
ERROR = {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}}
INVALID = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {"type": "string"},
        "detail": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "object"}}]},
    },
}
REFUSALS = {  # answered by Guard or the framework's traffic control, before or around the endpoint
    "401": "Missing or wrong key: send Authorization: Bearer <key>",
    "413": "Request body over CLV_MAX_BODY_BYTES",
    "415": "Body not sent as application/json",
    "429": "More than CLV_MAX_CONCURRENCY requests at once; retry later",
    "504": "Not answered within CLV_TIMEOUT_SECONDS",
}

ENDPOINT_ERRORS = {  # answered by one endpoint for a state of the service, not for the request
    "/predict": {"404": "The service has no scored snapshot"},
    "/target": {"404": "The service has no scored snapshot"},
    "/predict_history": {"503": "The history workers are being restarted (one died); retry shortly"},
    "/admin/reload": {
        "409": "A reload is already in progress, or the service is a Bento (it serves the model it was built with)",
        "503": "The new model could not be loaded; the previous one still serves",
    },
}


def _json(schema: dict, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def fix_spec(spec: dict) -> dict:
    """The framework's spec, corrected: OpenAPI 3.1 (its schemas are JSON Schema 2020-12), bodies required, 422
    not 400, the refusals, the bearer key."""
    spec = copy.deepcopy(spec)
    spec["openapi"] = "3.1.0"  # pydantic writes numeric exclusiveMinimum and {"type": "null"}: invalid in 3.0
    components = spec.setdefault("components", {})
    components.setdefault("schemas", {}).update(Error=ERROR, InvalidInput=INVALID)
    components["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
    spec["security"] = [{"bearer": []}]
    for path, item in spec.get("paths", {}).items():
        for operation in item.values():
            if path.startswith(OPEN_PATHS):
                operation["security"] = []
                continue
            if "requestBody" in operation:  # Guard answers a POST without a JSON body 415
                operation["requestBody"]["required"] = True
            responses = operation.setdefault("responses", {})
            if "400" in responses:  # Guard turns the framework's 400 into 422
                del responses["400"]
                responses["422"] = _json({"$ref": "#/components/schemas/InvalidInput"}, "Invalid input")
            for status, text in REFUSALS.items():
                responses.setdefault(status, _json({"$ref": "#/components/schemas/Error"}, text))
            for status, text in ENDPOINT_ERRORS.get(path, {}).items():
                responses.setdefault(status, _json({"$ref": "#/components/schemas/Error"}, text))
            if path.startswith("/admin/"):
                responses["403"] = _json({"$ref": "#/components/schemas/Error"}, "No CLV_ADMIN_KEY configured")
                operation["description"] = operation.get("description", "") + " Needs the admin key."
    return spec


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
    """Serves the corrected spec on ``GET /docs.json`` and unwraps one-element-list error bodies."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        docs = scope["method"] == "GET" and scope["path"] == DOCS
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
                    body = json.dumps(fix_spec(json.loads(body))).encode()
                else:
                    body = _unwrap(body)
                start = held[0]
                headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
                await send({**start, "headers": [*headers, (b"content-length", str(len(body)).encode())]})
                message = {"type": "http.response.body", "body": body}
            await send(message)

        return await self.app(scope, receive, rewrite)
