"""The service's own API page: ``/docs.json`` rebuilt from the framework's spec (title, version, tags, summaries,
readable schema names, examples, every error each endpoint answers, the keys), and a Swagger UI page served from
the assets shipped inside the bentoml package, with no third-party script, link or request."""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

from clv import defaults, package_version

PAGE = "/"  # the API page
SPEC = "/docs.json"  # the OpenAPI document the page renders
SCRIPT = "/docs.js"  # the page's Swagger UI set-up
ASSETS = "/static_content/"  # Swagger UI's script and stylesheet, as the framework serves them from bentoml
DOC_PATHS = (PAGE, SPEC, SCRIPT)  # open without a key, GET only: they describe the API and hold no data
HEALTH_PATHS = ("/livez", "/readyz", "/healthz", "/metrics")  # probes and metrics: no key
TITLE = "Customer value API"
DESCRIPTION = """\
Churn probability and future customer lifetime value (CLV) for each customer, from purchase histories.

**Where the scores come from.** `/predict` and `/target` read the snapshot `clv score` wrote with the registered
model (started with `clv serve --snapshot scores.parquet`); every answer names the model version that made it.
`/predict_history` scores posted purchases now, with the same feature code as training. `/model` says which model
is loaded (MLflow registry name, version, alias, training date, backtest metrics).

**Authentication.** When the service is started with `CLV_API_KEY` set, every endpoint but the health ones needs
`Authorization: Bearer <CLV_API_KEY>` (the **Authorize** button). `/admin/reload` needs `CLV_ADMIN_KEY` instead,
and answers 403 when none is configured. This page and `/docs.json` are open.

**Errors** are JSON objects with an `error` message (invalid input adds `detail`, one entry per problem).
Limits: 10,000 ids or 100,000 transactions a request, bodies up to `CLV_MAX_BODY_BYTES` (413), `CLV_MAX_CONCURRENCY`
requests at once (429), `CLV_TIMEOUT_SECONDS` per request (504).
"""
TAGS = [
    {"name": "Scores", "description": "Churn probability, CLV with its P10-P90 interval, segment and reasons"},
    {"name": "Targeting", "description": "Who to contact in a retention campaign, within a budget"},
    {"name": "Model", "description": "The model and snapshot that answer"},
    {"name": "Admin", "description": "Needs CLV_ADMIN_KEY"},
    {"name": "Health", "description": "Probes and metrics; open without a key"},
]
OTHER = {"name": "Other", "description": "Not described yet"}
ERROR = {
    "title": "Error",
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {"type": "string", "description": "What went wrong"},
        "detail": {
            "description": "Invalid input (422): one entry per problem, with the field's location and the message",
            "anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "object"}}],
        },
    },
}
EMPTY = {"title": "Empty", "type": "object", "description": "No parameters: send `{}`"}
SECURITY = {
    "apiKey": {"type": "http", "scheme": "bearer", "description": "`CLV_API_KEY`, when the service sets one"},
    "adminKey": {"type": "http", "scheme": "bearer", "description": "`CLV_ADMIN_KEY`, for `/admin/*`"},
}
PREDICTION = {
    "customer_id": "C13285",
    "churn_probability": 0.0985,
    "predicted_clv": 8094.57,
    "clv_lower": 0.0,
    "clv_upper": 18440.97,
    "expected_purchases": 5.81,
    "next_order_date": "2025-02-02",
    "segment": "high value / safe",
    "top_reasons": [
        "repeat purchase days (lowers churn risk)",
        "days since last purchase (lowers churn risk)",
        "days from first to last purchase (lowers churn risk)",
    ],
}
MODEL_INFO = {
    "name": defaults.MODEL_NAME,
    "version": "3",
    "alias": defaults.CHAMPION,
    "run_id": "a9e15830ad024f3fbe9daa263785fd50",
    "model_uri": defaults.CHAMPION_URI,
    "trained_as_of": "2025-01-01",
    "horizon_days": 181,
    "snapshot": "/srv/clv/scores.parquet",
    "snapshot_customers": 20000,
    "snapshot_model_version": "3",
    "backtest_metrics": {"model.roc_auc": 0.788, "model.gini": 0.667, "baseline.gini": 0.647, "lift.gini": 0.021},
    "last_reload": {"state": "idle", "started": None, "finished": None, "error": None},
}


FIELDS = {  # property descriptions, by "Schema.property" or, the same in every schema, by "property"
    "customer_id": "The customer's id, as in the purchase log",
    "churn_probability": "Probability that the customer makes no purchase within the horizon (`horizon_days`)",
    "predicted_clv": "Expected spend within the horizon (customer lifetime value)",
    "clv_lower": "P10 of the spend within the horizon",
    "clv_upper": "P90 of the spend within the horizon",
    "expected_purchases": "Expected number of purchase days within the horizon",
    "next_order_date": "as_of + horizon / expected purchases, when at least one purchase in two horizons is expected",
    "segment": "Value x risk segment: `<high|medium|low> value / <safe|watch|at risk>`",
    "top_reasons": "The three features that moved the churn score most, and which way",
    "model_version": "Registry version of the model that made these scores",
    "predictions": "One per known customer, in the order asked",
    "unknown_ids": "Ids asked for that the snapshot does not hold (not an error)",
    "PredictRequest.customer_ids": "Customer ids to look up in the snapshot (1 to 10,000)",
    "HistoryRequest.as_of": "Score as of this date: purchases before it count, the horizon starts on it",
    "HistoryRequest.transactions": "Purchase lines (1 to 100,000); all of a customer's rows of one day are netted",
    "HistoryRequest.reasons": "Compute `top_reasons` (false is faster, and leaves them empty)",
    "Transaction.date": "Date or ISO 8601 timestamp of the purchase",
    "Transaction.amount": "Amount spent; negative for a return",
    "TargetRequest.budget": "Total the campaign may spend on contacts",
    "TargetRequest.contact_cost": "Cost of contacting one customer",
    "TargetRequest.expected_uplift": "Share of a churning customer's value a contact is expected to save (0 to 1]",
    "TargetRequest.segment": "Only customers of this segment",
    "TargetRequest.min_clv": "Only customers whose predicted CLV is at least this",
    "TargetRequest.limit": "At most this many customers",
    "expected_incremental_value": "P(churn) x predicted CLV x expected uplift - contact cost",
    "contacts": "Customers listed",
    "total_cost": "contacts x contact cost",
    "total_expected_incremental_value": "Sum of the listed customers' expected incremental value",
    "customers": "Customers with a positive expected incremental value, best first, cut at the budget and limit",
    "name": "Registry name of the model",
    "version": "Registry version of the model",
    "alias": "Registry alias the service was started with (e.g. champion)",
    "run_id": "MLflow run that trained the model",
    "model_uri": "Model URI the service loads (`CLV_MODEL_URI`)",
    "trained_as_of": "Cutoff date of the training data",
    "horizon_days": "Horizon of every prediction, in days",
    "snapshot": "Path of the scored snapshot `/predict` and `/target` read",
    "snapshot_customers": "Customers in the snapshot",
    "snapshot_model_version": "Registry version that scored the snapshot",
    "backtest_metrics": "Backtest metrics of the model (`model.*`), the BTYD baseline (`baseline.*`) and the lift",
    "last_reload": "The last reload: state (idle, in_progress, done, failed), start, end and error",
}


@dataclasses.dataclass(frozen=True)
class Endpoint:
    """What the page says about one operation: tag, summary, schema names, examples, the errors it answers."""

    tag: str
    summary: str
    response: str | None = None  # the 200 body's schema name
    request: str | None = None  # the request body's schema name
    example: dict | None = None  # a request body answered 200 by a demo service
    reply: Any = None  # an example of the 200 body
    errors: dict[str, tuple[str, str]] = dataclasses.field(default_factory=dict)  # status: description, message


NO_SNAPSHOT = (
    "The service was started without a scored snapshot (`clv serve --snapshot`)",
    "the service has no scored snapshot: start it with --snapshot",
)
ENDPOINTS = {
    ("post", "/predict"): Endpoint(
        "Scores",
        "Scores of customers by id, from the scored snapshot",
        "PredictResponse",
        "PredictRequest",
        {"customer_ids": ["C13285", "C00001", "not-a-customer"]},
        {"model_version": "3", "predictions": [PREDICTION], "unknown_ids": ["not-a-customer"]},
        {"404": NO_SNAPSHOT},
    ),
    ("post", "/predict_history"): Endpoint(
        "Scores",
        "Scores computed now from posted purchase histories",
        "PredictResponse",
        "HistoryRequest",
        {
            "as_of": "2025-01-01",
            "transactions": [
                {"customer_id": "C00042", "date": "2024-03-01", "amount": 40.0},
                {"customer_id": "C00042", "date": "2024-09-12T14:02:00", "amount": 25.5},
                {"customer_id": "C00042", "date": "2024-10-02", "amount": -5.0},
                {"customer_id": "C00077", "date": "2024-11-20", "amount": 120.0},
            ],
            "reasons": True,
        },
        {"model_version": "3", "predictions": [PREDICTION | {"customer_id": "C00042"}], "unknown_ids": []},
        {
            "429": (
                "Every history worker is busy (`CLV_HISTORY_WORKERS`), or over `CLV_MAX_CONCURRENCY`: retry later",
                "history scoring is busy (at most 2 at a time): retry later",
            ),
            "503": (
                "A history worker died and new ones are starting: retry shortly",
                "history scoring is restarting its workers: retry shortly",
            ),
        },
    ),
    ("post", "/target"): Endpoint(
        "Targeting",
        "Campaign list: customers ranked by P(churn) x CLV x uplift - contact cost, within a budget",
        "TargetResponse",
        "TargetRequest",
        {"budget": 500.0, "contact_cost": 1.5, "expected_uplift": 0.1, "segment": "high value / at risk", "limit": 100},
        {
            "model_version": "3",
            "contacts": 1,
            "total_cost": 1.5,
            "total_expected_incremental_value": 78.78,
            "customers": [
                {
                    "customer_id": "C14916",
                    "expected_incremental_value": 78.78,
                    "churn_probability": 0.666,
                    "predicted_clv": 1205.62,
                    "segment": "high value / at risk",
                }
            ],
        },
        {"404": NO_SNAPSHOT},
    ),
    ("get", "/model"): Endpoint("Model", "Which model and snapshot answer", "ModelInfo", reply=MODEL_INFO),
    ("post", "/model"): Endpoint(
        "Model", "Which model and snapshot answer (POST, for clients that only post)", "ModelInfo", "Empty", {}
    ),
    ("post", "/admin/reload"): Endpoint(
        "Admin",
        "Load the model the URI names now, and the snapshot, and swap them in",
        "ModelInfo",
        "Empty",
        {},
        MODEL_INFO,
        {
            "401": (
                "Missing or wrong admin key: send `Authorization: Bearer <CLV_ADMIN_KEY>`",
                "missing or wrong admin key: send Authorization: Bearer <CLV_ADMIN_KEY>",
            ),
            "403": (
                "Admin endpoints are locked: the service has no `CLV_ADMIN_KEY`",
                "admin endpoints are locked: start the service with CLV_ADMIN_KEY set to use them",
            ),
            "409": (
                "A reload is already in progress, or the service is a Bento (it serves the model it was built with)",
                "a reload is already in progress: see /readyz",
            ),
            "503": (
                "The new model could not be loaded; the previous one still serves",
                "reload failed, still serving version 3: ...",
            ),
        },
    ),
    ("get", "/livez"): Endpoint("Health", "Liveness: the process answers"),
    ("get", "/healthz"): Endpoint("Health", "Liveness (deprecated name of /livez)"),
    ("get", "/readyz"): Endpoint("Health", "Readiness: the model is loaded, and what is loaded"),
    ("get", "/metrics"): Endpoint("Health", "Prometheus metrics by endpoint, method and status"),
}
COMMON_ERRORS = {  # answered by the middleware or the framework, around every secured endpoint
    "401": (
        "Missing or wrong API key: send `Authorization: Bearer <CLV_API_KEY>`",
        "missing or wrong API key: send Authorization: Bearer <key>",
    ),
    "429": (
        "Over `CLV_MAX_CONCURRENCY` requests at once: retry later",
        "too many requests: at most 64 at a time; retry later",
    ),
    "500": ("Unexpected error (a bug): see the server log", "an unexpected error occurred; see the server log"),
    "504": ("Not answered within `CLV_TIMEOUT_SECONDS`", "Not able to process the request in 60.0 seconds"),
}
BODY_ERRORS = {  # answered to a request body
    "413": ("Request body over `CLV_MAX_BODY_BYTES`", "request body over 33554432 bytes"),
    "415": (
        "Body not sent with `Content-Type: application/json`",
        "send the body as JSON with Content-Type: application/json",
    ),
    "422": ("Invalid input: `detail` names each field and its problem", "1 validation error for Input"),
}
INVALID = {  # what a 422 lists, by endpoint
    "/predict": {"type": "too_short", "loc": ["customer_ids"], "msg": "List should have at least 1 item, not 0"},
    "/predict_history": {"type": "float_parsing", "loc": ["transactions", 0, "amount"], "msg": "Not a number"},
    "/target": {"type": "greater_than", "loc": ["budget"], "msg": "Input should be greater than 0"},
}
RENAMED = ("Input", "IODescriptor")  # the framework's names for request and response models
DROPPED = (
    "TaskStatusResponse",
    "InvalidArgument",
    "NotFound",
    "InternalServerError",
)  # errors as the framework has them


def build_spec(framework: dict) -> dict:
    """Our spec from the framework's: its paths' schemas kept (under readable names), everything else ours."""
    framework = copy.deepcopy(framework)
    schemas = {k: v for k, v in framework.get("components", {}).get("schemas", {}).items() if not _internal(k)}
    schemas |= {"Error": ERROR, "Empty": EMPTY}
    paths: dict[str, dict] = {}
    for (method, path), endpoint in _endpoints(framework.get("paths", {})).items():
        source = framework["paths"].get(path)
        if source is None:
            continue
        given = source.get(method)
        if given is None:  # GET /model: answered as POST by the Guard, without a body
            given = {k: v for k, v in source.get("post", {}).items() if k != "requestBody"}
        if endpoint.response:
            schemas[endpoint.response] = _named(_schema(given["responses"]["200"]), endpoint.response)
        if endpoint.request and endpoint.request != "Empty":
            schemas[endpoint.request] = _named(_schema(given["requestBody"]), endpoint.request)
        paths.setdefault(path, {})[method] = _operation(method, path, endpoint, given)
    for name, schema in schemas.items():
        for prop, value in schema.get("properties", {}).items():
            text = FIELDS.get(f"{name}.{prop}", FIELDS.get(prop))
            if text and "description" not in value:
                value["description"] = text
    used = {operation["tags"][0] for item in paths.values() for operation in item.values()}
    return {
        "openapi": "3.1.0",  # pydantic writes numeric exclusiveMinimum and {"type": "null"}: invalid in 3.0
        "info": {
            "title": TITLE,
            "version": package_version(),
            "description": DESCRIPTION,
            "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"},
        },
        "servers": [{"url": ".", "description": "this server"}],
        "tags": [tag for tag in [*TAGS, OTHER] if tag["name"] in used],
        "security": [{"apiKey": []}],
        "paths": paths,
        "components": {"schemas": schemas, "securitySchemes": SECURITY},
    }


def _endpoints(framework_paths: dict) -> dict[tuple[str, str], Endpoint]:
    """``ENDPOINTS``, and any operation the framework has that they miss (a new API is never hidden)."""
    found = dict(ENDPOINTS)
    for path, item in framework_paths.items():
        for method, operation in item.items():
            if (method, path) not in found:
                found[(method, path)] = Endpoint(OTHER["name"], operation.get("x-bentoml-name", path))
    return found


def _operation(method: str, path: str, endpoint: Endpoint, given: dict) -> dict:
    operation = {
        "tags": [endpoint.tag],
        "summary": endpoint.summary,
        "description": given.get("description") or "",
        "operationId": f"{method}_{path.strip('/').replace('/', '_')}",
    }
    if endpoint.response:
        ok = {"description": "OK"} | _json(endpoint.response, endpoint.reply)
    else:  # a health probe, or an operation not described yet: as the framework has it
        ok = given.get("responses", {}).get("200", {"description": "OK"})
    operation["responses"] = {"200": ok} | _errors(method, path, endpoint)
    if endpoint.request:
        body = _json(endpoint.request, endpoint.example)
        operation["requestBody"] = {"required": True} | body  # the Guard answers a POST without a JSON body 415
    elif "requestBody" in given:  # an operation not described yet: its body as the framework has it
        operation["requestBody"] = given["requestBody"] | {"required": True}
    if path in HEALTH_PATHS:
        operation["security"] = []
    elif path.startswith("/admin/"):
        operation["security"] = [{"adminKey": []}]
    return operation


def _errors(method: str, path: str, endpoint: Endpoint) -> dict:
    if path in HEALTH_PATHS:
        return {"503": {"description": "Starting: the model is loading"}} if path == "/readyz" else {}
    answers = COMMON_ERRORS | (BODY_ERRORS if method == "post" else {}) | endpoint.errors
    return {
        status: {"description": text} | _json("Error", {"error": message} | _detail(status, path))
        for status, (text, message) in sorted(answers.items())
    }


def _detail(status: str, path: str) -> dict:
    return {"detail": [INVALID[path]]} if status == "422" and path in INVALID else {}


def _json(name: str, example: Any = None) -> dict:
    media: dict[str, Any] = {"schema": {"$ref": f"#/components/schemas/{name}"}}
    if example is not None:
        media["example"] = example
    return {"content": {"application/json": media}}


def _schema(part: dict) -> dict:
    return part["content"]["application/json"]["schema"]


def _named(schema: dict, name: str) -> dict:
    return {**schema, "title": name}


def _internal(name: str) -> bool:
    return name in DROPPED or name.endswith(RENAMED)


PAGE_HTML = f"""<!DOCTYPE html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>{TITLE}</title>
    <link rel="icon" href="data:,">
    <link rel="stylesheet" href=".{ASSETS}swagger-ui.css">
    <style>body {{ margin: 0; background: #fafafa; }}</style>
  </head>
  <body>
    <noscript>This page needs JavaScript; the API is described in <a href=".{SPEC}">docs.json</a>.</noscript>
    <div id="swagger-ui"></div>
    <script src=".{ASSETS}swagger-ui-bundle.js"></script>
    <script src=".{SCRIPT}"></script>
  </body>
</html>
""".encode()
PAGE_SCRIPT = f"""window.addEventListener("load", function () {{
  window.ui = SwaggerUIBundle({{
    url: ".{SPEC}",
    dom_id: "#swagger-ui",
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    deepLinking: true,
    validatorUrl: null,
    displayRequestDuration: true,
    defaultModelsExpandDepth: 0,
    tryItOutEnabled: false
  }});
}});
""".encode()
# The page loads nothing from elsewhere, and nothing else may frame or script it.
PAGE_POLICY = (
    b"default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    b"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
DOCUMENTS = {  # GET path -> content type, body
    PAGE: (b"text/html; charset=utf-8", PAGE_HTML),
    SCRIPT: (b"text/javascript; charset=utf-8", PAGE_SCRIPT),
}
