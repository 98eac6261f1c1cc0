"""The real BentoML service over HTTP, on a model in the real MLflow registry."""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import json
import os
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features import read_transactions
from tests.helpers import free_port, running_server
from tests.integration.conftest import AS_OF, champion_with_snapshot

KEY = "test-key-123"
ADMIN = "admin-key-456"
NAME = "serve-model"
REPO = Path(__file__).resolve().parents[2]


def call(
    base: str,
    path: str,
    body=None,
    key: str | None = KEY,
    method: str | None = None,
    raw: bytes | None = None,
    content_type: str = "application/json",
):
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(base + path, data=data, method=method or ("POST" if data is not None else "GET"))
    req.add_header("content-type", content_type)
    if key:
        req.add_header("authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, _body(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, _body(err.read())


def _body(raw: bytes):
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode(errors="replace")


@pytest.fixture(scope="module")
def served(trained, small_config, mlflow_uri, generated, tmp_path_factory):
    """Register the trained model as serve-model@champion, score a snapshot, start `bentoml serve`."""
    folder = tmp_path_factory.mktemp("serve")
    _, version, snap, log = champion_with_snapshot(trained, small_config, mlflow_uri, generated, NAME, folder)
    env = {
        "MLFLOW_TRACKING_URI": mlflow_uri,
        "CLV_MODEL_URI": f"models:/{NAME}@champion",
        "CLV_SNAPSHOT": str(folder / "scores.parquet"),
        "CLV_API_KEY": KEY,
        "CLV_ADMIN_KEY": ADMIN,
        "CLV_MAX_BODY_BYTES": str(2_000_000),
    }
    with start_service(env, folder / "service.log") as base:
        yield {"base": base, "snapshot": snap, "version": version, "folder": folder, "log": log, "env": env}


@contextlib.contextmanager
def start_service(extra_env: dict, logpath: Path, keep: bool = False):
    """``bentoml serve`` in a subprocess on a free port; yields the base URL once /readyz answers 200 (and the
    process too with ``keep``)."""
    port = free_port()
    home = logpath.with_suffix(".bentoml")  # each server its own: a starting server wipes its home's metrics dir
    env = os.environ | {"BENTOML_HOME": str(home)} | extra_env | {"BENTOML_DO_NOT_TRACK": "true"}
    cmd = [sys.executable, "-m", "bentoml", "serve", "serving.service:CustomerValueService",
           "--host", "127.0.0.1", "--port", str(port)]  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    with running_server(cmd, f"{base}/readyz", env=env, cwd=REPO, log=logpath) as proc:
        yield (base, proc) if keep else base


def test_predict_known_and_unknown_ids(served):
    snap = served["snapshot"].set_index("customer_id")
    ids = list(snap.index[:3]) + ["nobody"]
    status, body = call(served["base"], "/predict", {"customer_ids": ids})
    assert status == 200, body
    assert body["unknown_ids"] == ["nobody"] and body["model_version"] == served["version"]
    got = {p["customer_id"]: p for p in body["predictions"]}
    assert list(got) == ids[:3]
    for cid in ids[:3]:
        assert got[cid]["predicted_clv"] == pytest.approx(snap.loc[cid, "predicted_clv"], rel=1e-12)
        assert got[cid]["churn_probability"] == pytest.approx(snap.loc[cid, "churn_probability"], rel=1e-12)
        assert got[cid]["segment"] == snap.loc[cid, "segment"]
        assert len(got[cid]["top_reasons"]) == 3


def test_predict_history_matches_clv_score_on_the_same_rows(served, tmp_path):
    from training.score import score
    from training.tracking import connect, load_bundle

    tx = served["log"].rows.to_pandas()
    some = tx[tx["customer_id"].isin(sorted(tx["customer_id"].unique())[:25])]
    rows = [{"customer_id": r.customer_id, "date": str(r.day), "amount": float(r.amount)} for r in some.itertuples()]
    status, body = call(served["base"], "/predict_history", {"as_of": AS_OF.isoformat(), "transactions": rows})
    assert status == 200, body
    connect(os.environ.get("MLFLOW_TRACKING_URI"))
    pd.DataFrame(rows).to_csv(tmp_path / "few.csv", index=False)
    bundle, _ = load_bundle(f"models:/{NAME}/{served['version']}")
    expected = score(read_transactions(tmp_path / "few.csv"), AS_OF, bundle).predictions.set_index("customer_id")
    got = {p["customer_id"]: p for p in body["predictions"]}
    assert set(got) == set(expected.index)
    for cid, p in got.items():
        assert p["predicted_clv"] == pytest.approx(expected.loc[cid, "predicted_clv"], rel=1e-9)
        assert p["churn_probability"] == pytest.approx(expected.loc[cid, "churn_probability"], rel=1e-9)


def test_target_ranks_by_expected_incremental_value_within_budget(served):
    status, body = call(served["base"], "/target", {"budget": 50.0, "contact_cost": 2.0, "expected_uplift": 0.1})
    assert status == 200, body
    s = served["snapshot"]
    value = s["churn_probability"] * s["predicted_clv"] * 0.1 - 2.0
    expected = s.assign(v=value)[value > 0].sort_values("v", ascending=False, kind="stable").head(25)
    assert [c["customer_id"] for c in body["customers"]] == expected["customer_id"].tolist()
    assert body["contacts"] == len(expected) and body["total_cost"] == pytest.approx(2.0 * len(expected))
    assert body["total_expected_incremental_value"] == pytest.approx(expected["v"].sum())


def test_model_info_by_get(served):
    status, body = call(served["base"], "/model")
    assert status == 200, body
    assert (body["name"], body["version"], body["alias"]) == (NAME, served["version"], "champion")
    assert body["trained_as_of"] == AS_OF.isoformat() and "model.gini" in body["backtest_metrics"]


def get(base: str, path: str) -> tuple[int, dict, str]:
    """Status, headers and text of a GET without any key."""
    with urllib.request.urlopen(base + path, timeout=60) as resp:
        return resp.status, dict(resp.headers), resp.read().decode()


@pytest.fixture(scope="module")
def spec(served):
    status, _, text = get(served["base"], "/docs.json")  # open without the key
    assert status == 200
    return json.loads(text)


def operations_of(spec: dict):
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            yield method, path, operation


def test_the_spec_names_the_service_its_version_and_every_operation(spec):
    from importlib.metadata import version

    info = spec["info"]
    assert info["title"] == "Customer value API" and info["version"] == version("customer-value") != "None"
    assert "Bearer" in info["description"] and "clv score" in info["description"] and "contact" not in info
    tags = {t["name"] for t in spec["tags"]}
    found = {(m, p) for m, p, _ in operations_of(spec)}
    assert {("get", "/model"), ("post", "/predict"), ("post", "/predict_history"), ("post", "/target")} <= found
    for method, path, operation in operations_of(spec):
        assert operation["summary"] and len(operation["tags"]) == 1 and operation["tags"][0] in tags, (method, path)
    names = list(spec["components"]["schemas"])
    assert not [n for n in names if "__" in n or n.endswith(("IODescriptor", "Input"))], names
    assert {"NotFound", "InvalidArgument", "InternalServerError", "TaskStatusResponse"}.isdisjoint(names)
    undescribed = [
        f"{name}.{prop}"
        for name, schema in spec["components"]["schemas"].items()
        for prop, value in schema.get("properties", {}).items()
        if not value.get("description")
    ]
    assert not undescribed, undescribed
    assert "bentoml" not in json.dumps(spec).lower()


def test_every_refusal_is_documented_with_the_error_schema_and_the_keys(spec):
    error = {"$ref": "#/components/schemas/Error"}
    assert spec["components"]["schemas"]["Error"]["required"] == ["error"]
    schemes = spec["components"]["securitySchemes"]
    assert {s["type"] for s in schemes.values()} == {"http"} and {s["scheme"] for s in schemes.values()} == {"bearer"}
    assert spec["security"] == [{"apiKey": []}]
    for method, path, operation in operations_of(spec):
        responses = operation["responses"]
        if path in ("/livez", "/healthz", "/readyz", "/metrics"):
            assert operation["security"] == [], path
            continue
        wanted = {"401", "429", "504"} | ({"413", "415", "422"} if method == "post" else set())
        assert wanted <= set(responses) and "400" not in responses, (method, path, sorted(responses))
        for status, response in responses.items():
            if status != "200":
                assert response["content"]["application/json"]["schema"] == error, (method, path, status)
    assert spec["paths"]["/admin/reload"]["post"]["security"] == [{"adminKey": []}]
    assert {"403", "409", "503"} <= set(spec["paths"]["/admin/reload"]["post"]["responses"])
    assert {"404"} <= set(spec["paths"]["/target"]["post"]["responses"])
    assert {"429", "503"} <= set(spec["paths"]["/predict_history"]["post"]["responses"])


def test_every_documented_example_fits_its_schema_and_the_requests_are_answered_200(served, spec):
    import jsonschema_rs

    def check(media: dict, where: tuple) -> None:
        if "example" in media:
            root = {"$ref": media["schema"]["$ref"], "components": spec["components"]}
            errors = [e.message for e in jsonschema_rs.validator_for(root).iter_errors(media["example"])]
            assert not errors, (where, errors)

    posted = 0
    for method, path, operation in operations_of(spec):
        for status, response in operation["responses"].items():
            if "content" in response:
                check(response["content"]["application/json"], (method, path, status))
        if method == "get" and not path.startswith(("/metrics", "/readyz", "/livez", "/healthz")):
            assert call(served["base"], path)[0] == 200, path
        if "requestBody" in operation:
            media = operation["requestBody"]["content"]["application/json"]
            check(media, (method, path))
            key = ADMIN if path.startswith("/admin/") else KEY
            status, reply = call(served["base"], path, media["example"], key=key)
            assert status == 200, (path, reply)
            posted += 1
    assert posted == 5  # /predict, /predict_history, /target, POST /model, /admin/reload


def test_the_api_page_loads_nothing_from_elsewhere(served):
    import re

    base = served["base"]
    status, headers, page = get(base, "/")
    assert status == 200 and headers["content-type"].startswith("text/html")
    assert "<title>Customer value API</title>" in page
    policy = headers["content-security-policy"]
    assert "default-src 'none'" in policy and "script-src 'self';" in policy and "connect-src 'self'" in policy
    refs = re.findall(r"""(?:src|href)\s*=\s*["']([^"']*)["']""", page)
    scripts = re.findall(r"""<script[^>]*\bsrc\s*=\s*["']([^"']*)["']""", page)
    assert len(scripts) == 2 and len(refs) >= 4, refs
    assert not [r for r in refs if re.match(r"(?i)^(https?:)?//", r)], refs
    lowered = page.lower()
    assert not [w for w in ("bentoml", "googletagmanager", "github.com", "http://", "https://") if w in lowered]
    for ref in refs:
        if ref.startswith("./"):  # the page's own script, Swagger UI's, the stylesheet, the spec: all served here
            assert get(base, ref[1:])[0] == 200, ref
    script = get(base, "/docs.js")[2]
    assert "validatorUrl: null" in script and "./docs.json" in script and "http" not in script


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/predict", {"customer_ids": []}, "customer_ids"),
        ("/predict", {"customer_ids": [str(i) for i in range(10_001)]}, "customer_ids"),
        ("/predict", {"ids": ["a"]}, "customer_ids"),
        (
            "/predict_history",
            {"as_of": "2025-13-01", "transactions": [{"customer_id": "a", "date": "2024-01-01", "amount": 1}]},
            "as_of",
        ),
        (
            "/predict_history",
            {"as_of": "2025-01-01", "transactions": [{"customer_id": "a", "date": "someday", "amount": 1}]},
            "date",
        ),
        ("/predict_history", {"as_of": "2025-01-01", "transactions": []}, "transactions"),
        ("/target", {"budget": -1, "contact_cost": 1, "expected_uplift": 0.1}, "budget"),
    ],
)
def test_bad_input_is_422_naming_the_field(served, path, body, field):
    status, reply = call(served["base"], path, body)
    assert status == 422, reply
    assert field in json.dumps(reply)


def test_an_unknown_segment_is_422_listing_the_valid_ones(served):
    body = {"budget": 100, "contact_cost": 1, "expected_uplift": 0.1, "segment": "High value / at risk"}
    status, reply = call(served["base"], "/target", body)
    assert status == 422, reply
    assert "high value / at risk" in json.dumps(reply) and "low value / safe" in json.dumps(reply)
    body["segment"] = "high value / at risk"
    assert call(served["base"], "/target", body)[0] == 200


def test_admin_needs_its_own_key_and_posts_need_json(served):
    assert call(served["base"], "/admin/reload", {})[0] == 401  # the API key does not open admin
    status, reply = call(served["base"], "/admin/reload", raw=b"x=1", key=ADMIN, content_type="text/plain")
    assert status == 415 and "application/json" in json.dumps(reply)
    form = b"customer_ids=a"
    assert call(served["base"], "/predict", raw=form, content_type="application/x-www-form-urlencoded")[0] == 415


def test_non_finite_amount_is_422(served):
    raw = b'{"as_of": "2025-01-01", "transactions": [{"customer_id": "a", "date": "2024-01-01", "amount": NaN}]}'
    status, reply = call(served["base"], "/predict_history", raw=raw)
    assert status == 422 and "amount" in json.dumps(reply)


def test_oversized_body_is_413_and_missing_key_is_401(served):
    big = {"customer_ids": ["x" * 100] * 30_000}
    assert call(served["base"], "/predict", big)[0] == 413
    assert call(served["base"], "/predict", {"customer_ids": ["a"]}, key=None)[0] == 401
    assert call(served["base"], "/predict", {"customer_ids": ["a"]}, key="wrong")[0] == 401
    assert call(served["base"], "/livez", key=None)[0] == 200
    status, text = call(served["base"], "/metrics", key=None)
    assert status == 200 and 'endpoint="/predict"' in str(text)


class SwitchableProxy:
    """A TCP proxy in front of the tracking server that can be switched to swallow requests without answering, as
    a registry that hangs does."""

    def __init__(self, target_port: int):
        import socket
        import threading

        self.target_port, self.hang = target_port, False
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        import socket
        import threading

        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            if self.hang:
                threading.Thread(target=lambda c=client: (time.sleep(300), c.close()), daemon=True).start()
                continue
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, src, dst):
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                if not self.hang:  # requests on kept-alive connections are swallowed too
                    dst.sendall(data)
        with contextlib.suppress(OSError):
            dst.shutdown(1)

    def close(self):
        self.server.close()


def test_a_reload_against_a_hanging_registry_fails_fast_and_keeps_serving(served, mlflow_uri):
    """Registry calls time out in seconds (2 s, 1 retry here), /readyz shows the reload in progress and then
    failed, lookups are answered meanwhile, and the old model keeps serving."""
    proxy = SwitchableProxy(int(mlflow_uri.rsplit(":", 1)[1]))
    env = served["env"] | {
        "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{proxy.port}",
        "CLV_REGISTRY_TIMEOUT_SECONDS": "2",
        "CLV_REGISTRY_RETRIES": "1",
    }
    ids = served["snapshot"]["customer_id"].head(10).tolist()
    try:
        with start_service(env, served["folder"] / "hanging.log") as base, cf.ThreadPoolExecutor(1) as pool:
            version = call(base, "/model")[1]["version"]
            proxy.hang = True
            started = time.monotonic()
            reloading = pool.submit(call, base, "/admin/reload", {}, ADMIN)
            while (ready := call(base, "/readyz", key=None))[1]["reload"]["state"] != "in_progress":
                assert not reloading.done(), reloading.result()
                time.sleep(0.01)
            assert ready[0] == 200  # still ready: the old model serves
            lookup = call(base, "/predict", {"customer_ids": ids})
            twice = call(base, "/admin/reload", {}, ADMIN)
            status, reply = reloading.result()
            took = time.monotonic() - started
            after = call(base, "/readyz", key=None)[1]
            still = call(base, "/predict", {"customer_ids": ids})
            proxy.hang = False
            recovered = call(base, "/admin/reload", {}, ADMIN)
    finally:
        proxy.close()
    assert lookup[0] == 200 and len(lookup[1]["predictions"]) == 10
    assert twice[0] == 409 and "already in progress" in json.dumps(twice[1])
    assert status == 503 and f"reload failed, still serving version {version}" in json.dumps(reply)
    assert took < 30, took  # MLflow's defaults (7 retries of 120 s) would take many minutes
    assert after["reload"]["state"] == "failed" and after["reload"]["error"] and after["model_version"] == version
    assert still[0] == 200 and still[1]["model_version"] == version
    assert recovered[0] == 200 and recovered[1]["last_reload"]["state"] == "done"


def test_loading_leaves_no_temporary_directory_or_path_entry(served, mlflow_uri, tmp_path, monkeypatch):
    """A long-running service reloads many times: each load must clean up after itself."""
    import sys
    import tempfile

    from serving.state import load_state
    from training.tracking import connect

    connect(mlflow_uri)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    path_before = list(sys.path)
    for _ in range(3):
        state = load_state(served["env"]["CLV_MODEL_URI"], served["env"]["CLV_SNAPSHOT"])
    assert state.bundle.horizon_days == 120 and state.snapshot_version == state.model_version
    assert sys.path == path_before
    assert list(tmp_path.iterdir()) == []


def test_hot_swap_under_load_switches_versions_once_without_errors(served, trained, small_config, mlflow_uri):
    """Promote a new version, re-score the snapshot with it (replaced atomically, as `clv score` writes), reload
    while /predict runs at concurrency 8: no error, and every response names the version that made it: requests
    finished before the reload began name the old one, requests started after it answered name the new one."""
    from training.tracking import connect, log_training, set_alias

    _, new_version = log_training(trained, small_config, {"case": "reload"}, "x", "tests-service", NAME, mlflow_uri)
    set_alias(connect(mlflow_uri), NAME, "champion", new_version)
    snapshot = Path(served["env"]["CLV_SNAPSHOT"])
    rescored = snapshot.with_name("rescored.parquet")
    served["snapshot"].assign(model_version=new_version).to_parquet(rescored, index=False)
    ids = served["snapshot"]["customer_id"].head(100).tolist()

    def hit(_):
        start = time.monotonic()
        status, body = call(served["base"], "/predict", {"customer_ids": ids})
        return start, time.monotonic(), status, body

    with cf.ThreadPoolExecutor(8) as pool:
        before = list(pool.map(hit, range(16)))
        rescored.replace(snapshot)
        reload_start = time.monotonic()
        reloading = pool.submit(call, served["base"], "/admin/reload", {}, ADMIN)
        during = list(pool.map(hit, range(64)))
        status, info = reloading.result()
        reload_end = time.monotonic()
        after = list(pool.map(hit, range(16)))
    assert status == 200 and info["version"] == new_version and info["snapshot_model_version"] == new_version
    assert info["last_reload"]["state"] == "done"
    replies = before + during + after
    assert all(s == 200 for *_, s, _ in replies), [s for *_, s, _ in replies if s != 200]
    assert all(len(b["predictions"]) == 100 for *_, b in replies)
    for start, end, _, body in replies:
        if end < reload_start:
            assert body["model_version"] == served["version"]
        elif start > reload_end:
            assert body["model_version"] == new_version
        else:
            assert body["model_version"] in (served["version"], new_version)
    assert {b["model_version"] for *_, b in after} == {new_version}
    assert call(served["base"], "/readyz", key=None)[1]["reload"]["state"] == "done"


def history_body(served, rows: int) -> dict:
    tx = served["log"].rows.to_pandas().head(rows)
    records = [
        {"customer_id": c, "date": str(d), "amount": float(a)}
        for c, d, a in zip(tx.customer_id, tx.day, tx.amount, strict=True)
    ]
    return {"as_of": AS_OF.isoformat(), "transactions": records}


def refused_or_status(base: str, path: str, raw: bytes) -> int | str:
    """The status, or "refused" when the server closed the connection while the body was still being sent (an
    answer before the whole body is read is a refusal too)."""
    try:
        return call(base, path, raw=raw)[0]
    except (ConnectionError, urllib.error.URLError):
        return "refused"


def test_overload_is_429_and_slow_requests_are_504(served):
    """A service allowing one request at a time, with a 0.5 s timeout, under several heavy requests. The body is
    serialised once, so sending it takes milliseconds and only the scoring (seconds) is slow."""
    raw = json.dumps(history_body(served, 100_000)).encode()
    env = served["env"] | {"CLV_MAX_CONCURRENCY": "1", "CLV_TIMEOUT_SECONDS": "0.5", "CLV_MAX_BODY_BYTES": "100000000"}
    with start_service(env, served["folder"] / "limited.log") as base:
        assert call(base, "/predict", {"customer_ids": ["a"]})[0] == 200
        assert call(base, "/predict_history", raw=raw)[0] == 504  # seconds of work against a 0.5 s timeout
        deadline = time.time() + 60  # let the abandoned scoring finish
        while call(base, "/readyz", key=None)[1]["history_busy"]:
            assert time.time() < deadline
            time.sleep(0.1)
        with cf.ThreadPoolExecutor(4) as pool:
            statuses = list(pool.map(lambda _: refused_or_status(base, "/predict_history", raw), range(4)))
    assert sum(s in (429, "refused") for s in statuses) >= 2, statuses
    assert set(statuses) <= {429, 504, "refused"}, statuses


def test_lookups_never_wait_behind_history_scoring_and_history_has_its_own_limit(served):
    """One history worker: while it scores, a second history request is 429 at once, and lookups by id are
    answered before the scoring ends (the order of events is checked, not a timing)."""
    body = history_body(served, 100_000)
    env = served["env"] | {"CLV_HISTORY_WORKERS": "1", "CLV_MAX_BODY_BYTES": "100000000"}
    with start_service(env, served["folder"] / "history.log") as base, cf.ThreadPoolExecutor(2) as pool:
        ids = served["snapshot"]["customer_id"].head(100).tolist()
        scoring = pool.submit(call, base, "/predict_history", body)
        deadline = time.time() + 60
        while call(base, "/readyz", key=None)[1]["history_busy"] == 0:
            assert time.time() < deadline and not scoring.done(), "history scoring never started"
            time.sleep(0.01)
        lookups = [call(base, "/predict", {"customer_ids": ids}) for _ in range(5)]
        busy_after_lookups = call(base, "/readyz", key=None)[1]["history_busy"]
        second = call(base, "/predict_history", body)
        status, reply = scoring.result()
    assert all(s == 200 and len(b["predictions"]) == 100 for s, b in lookups)
    assert busy_after_lookups == 1  # the scoring was still running when the lookups had all been answered
    assert second[0] == 429 and "history scoring is busy" in json.dumps(second[1])
    assert status == 200 and len(reply["predictions"]) > 1000


def history_workers(server_pid: int) -> list:
    import psutil

    return [
        p
        for p in psutil.Process(server_pid).children(recursive=True)
        if "spawn_main" in " ".join(p.cmdline()) and "resource_tracker" not in " ".join(p.cmdline())
    ]


def test_a_killed_history_worker_is_replaced_and_workers_die_with_their_server(served):
    """A worker killed from outside: history answers 503 while new workers start, then 200 again. The serving
    process killed outright: its workers exit too instead of lingering."""
    import psutil

    body = history_body(served, 500)
    with start_service(served["env"], served["folder"] / "workers.log", keep=True) as (base, proc):
        workers = history_workers(proc.pid)
        assert len(workers) == 2
        workers[0].kill()
        workers[0].wait(10)
        time.sleep(0.5)  # the pool notices the death
        first = call(base, "/predict_history", body)
        deadline = time.time() + 120
        while (status := call(base, "/predict_history", body))[0] != 200:
            assert status[0] == 503 and time.time() < deadline, status
            time.sleep(0.5)
        old = {w.pid for w in workers}
        while len(replaced := history_workers(proc.pid)) != 2 or old & {w.pid for w in replaced}:
            assert time.time() < deadline, replaced  # the broken pool's other worker is stopping
            time.sleep(0.2)
        server = replaced[0].parent()
        server.kill()  # SIGKILL: no shutdown hook runs
        gone, alive = psutil.wait_procs(replaced, timeout=30)
    assert first[0] == 503 and "restarting its workers" in json.dumps(first[1])
    assert alive == [], [p.cmdline() for p in alive]


def test_history_reasons_are_optional(served):
    body = history_body(served, 2_000)
    with_reasons = call(served["base"], "/predict_history", body)
    without = call(served["base"], "/predict_history", body | {"reasons": False})
    assert with_reasons[0] == without[0] == 200
    assert all(len(p["top_reasons"]) == 3 for p in with_reasons[1]["predictions"])
    assert all(p["top_reasons"] == [] for p in without[1]["predictions"])
    pairs = zip(with_reasons[1]["predictions"], without[1]["predictions"], strict=True)
    assert all(a["predicted_clv"] == b["predicted_clv"] for a, b in pairs)


def test_a_chunked_body_over_the_limit_is_413(served):
    import http.client

    port = int(served["base"].rsplit(":", 1)[1])
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    chunks = (b'{"customer_ids": [' + b'"x",' * 50_000 for _ in range(20))  # ~4 MB against a 2 MB limit
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {KEY}"}
    try:
        conn.request("POST", "/predict", body=chunks, headers=headers, encode_chunked=True)
        resp = conn.getresponse()
        status, text = resp.status, resp.read().decode()
    except (BrokenPipeError, ConnectionResetError):
        status, text = "refused", ""
    finally:
        conn.close()
    assert status == 413 and "over 2000000 bytes" in text, (status, text)


def series(exposition: str) -> set[str]:
    return {line.rsplit(" ", 1)[0] for line in exposition.splitlines() if line and not line.startswith("#")}


def test_metrics_have_one_label_for_unknown_paths(served):
    """After one unknown path with the key (404) and one without (401), 300 more distinct ones add no series."""
    call(served["base"], "/nowhere")
    call(served["base"], "/nowhere", key=None)
    first = call(served["base"], "/metrics", key=None)[1]
    for i in range(150):
        call(served["base"], f"/nowhere-{i}")
        call(served["base"], f"/scan/{i}.php", key=None)
    text = call(served["base"], "/metrics", key=None)[1]
    assert "nowhere" not in text and "scan" not in text
    assert 'endpoint="unmatched"' in text and 'endpoint="/predict"' in text
    assert series(text) == series(first)
    assert 'clv_requests_total{endpoint="unmatched",method="GET",status="404"}' in series(text)


def test_client_errors_are_one_log_line_without_traceback(served):
    log = served["folder"] / "service.log"
    before = log.read_text()
    assert call(served["base"], "/predict", {"customer_ids": []})[0] == 422
    assert call(served["base"], "/predict_history", {"as_of": "0001-06-01", "transactions": [
        {"customer_id": "a", "date": "0001-01-01", "amount": 1}]})[0] == 422  # fmt: skip
    time.sleep(0.5)
    new = log.read_text()[len(before) :]
    assert "Traceback" not in new, new
    assert "POST /predict -> 422: 1 validation error(s): customer_ids" in new, new
    assert "POST /predict_history -> 422" in new, new


def test_load_of_300_lookups_at_concurrency_16_has_no_errors(served):
    ids = served["snapshot"]["customer_id"].head(100).tolist()

    def hit(_):
        start = time.perf_counter()
        status, body = call(served["base"], "/predict", {"customer_ids": ids})
        return status, len(body["predictions"]) if status == 200 else 0, time.perf_counter() - start

    with cf.ThreadPoolExecutor(16) as pool:
        replies = list(pool.map(hit, range(300)))
    seconds = np.array([r[2] for r in replies])
    print(f"300 x /predict of 100 ids at concurrency 16: p50 {np.median(seconds) * 1e3:.1f} ms, "
          f"p99 {np.quantile(seconds, 0.99) * 1e3:.1f} ms")  # fmt: skip
    assert [r[:2] for r in replies] == [(200, 100)] * 300


def test_sigterm_during_load_lets_requests_in_flight_complete(served):
    """History requests (about a second of work each) and lookups are in flight when the server gets SIGTERM:
    every one of them is answered 200, then the server exits."""
    import signal

    body = history_body(served, 60_000)
    ids = served["snapshot"]["customer_id"].head(100).tolist()
    env = served["env"] | {"CLV_MAX_BODY_BYTES": "100000000"}
    with (
        start_service(env, served["folder"] / "sigterm.log", keep=True) as (base, proc),
        cf.ThreadPoolExecutor(8) as pool,
    ):
        history = [pool.submit(call, base, "/predict_history", body) for _ in range(2)]
        deadline = time.time() + 60
        while call(base, "/readyz", key=None)[1]["history_busy"] < 2:
            assert time.time() < deadline
            time.sleep(0.01)
        lookups = [pool.submit(call, base, "/predict", {"customer_ids": ids}) for _ in range(6)]
        time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        answered = [f.result()[0] for f in history + lookups]
        code = proc.wait(timeout=60)
    assert answered == [200] * 8, answered
    assert code == 0


def test_sigterm_to_clv_serve_stops_the_server_and_frees_the_port(served, mlflow_uri):
    import signal
    import socket

    port = free_port()
    env = os.environ | served["env"] | {"BENTOML_DO_NOT_TRACK": "true"}
    cmd = [sys.executable, "-m", "clv", "serve", "--model", served["env"]["CLV_MODEL_URI"], "--snapshot",
           served["env"]["CLV_SNAPSHOT"], "--port", str(port), "--tracking-uri", mlflow_uri]  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    with running_server(cmd, f"{base}/readyz", env=env, cwd=REPO, log=served["folder"] / "clv-serve.log") as proc:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    with socket.socket() as s, contextlib.suppress(OSError):  # nothing listens on the port any more
        s.settimeout(2)
        assert s.connect_ex(("127.0.0.1", port)) != 0
