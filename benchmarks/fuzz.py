"""Property test of the served contract: schemathesis generates requests from ``/docs.json`` (valid and invalid
ones) against a freshly started ``bentoml serve``, and checks every answer: no 5xx, a documented status, the
documented content type and body schema. Loopback only, bounded by ``--examples`` per operation and mode.

Run: ``python benchmarks/fuzz.py`` (``make bench-fuzz``; about 3 minutes). The test suite runs the same functions
with fewer examples (tests/integration/test_fuzz.py).
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import dataclasses
import datetime as dt
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ADMIN_PATHS = ("/admin/",)
RELOAD_EXAMPLES = 5  # each valid /admin/reload reloads the model from the registry: a second or more each


@dataclasses.dataclass
class Outcome:
    """What one operation answered to one generation mode."""

    operation: str
    mode: str
    examples: int = 0
    statuses: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    failures: list[str] = dataclasses.field(default_factory=list)
    seconds: float = 0.0

    @property
    def server_errors(self) -> int:
        return sum(n for s, n in self.statuses.items() if s >= 500)


def checks() -> list:
    """No 5xx; the status, content type, headers and body as the spec documents them for that status."""
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_headers_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    return [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_headers_conformance,
        response_schema_conformance,
    ]


def load_schema(base: str, key: str | None):
    """The service's own ``/docs.json`` (behind the API key when one is set)."""
    import schemathesis

    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return schemathesis.openapi.from_url(f"{base}/docs.json", headers=headers, timeout=30)


def operations(schema) -> dict:
    """``METHOD /path`` -> operation, for every operation of the schema."""
    found = {}
    for result in schema.get_all_operations():
        operation = result.ok()
        found[f"{operation.method.upper()} {operation.path}"] = operation
    return found


def fuzz(operation, base: str, key: str | None, admin_key: str | None, examples: int, mode: str) -> Outcome:
    """``examples`` generated requests (derandomized: the same ones every run) sent to ``base``, each checked."""
    import requests
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis.errors import Unsatisfiable
    from schemathesis import GenerationMode
    from schemathesis.core.failures import FailureGroup

    secret = admin_key if operation.path.startswith(ADMIN_PATHS) else key
    headers = {"Authorization": f"Bearer {secret}"} if secret else {}
    outcome = Outcome(f"{operation.method.upper()} {operation.path}", mode)
    session = requests.Session()
    wanted = checks()

    @settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(operation.as_strategy(generation_mode=GenerationMode(mode)))
    def one(case):
        response = case.call(base_url=base, session=session, headers=headers, timeout=120)
        outcome.examples += 1
        outcome.statuses[response.status_code] += 1
        try:
            case.validate_response(response, checks=wanted, headers=headers)
        except (FailureGroup, AssertionError) as exc:
            body = response.text[:300]
            outcome.failures.append(f"{outcome.operation} [{mode}] {response.status_code}: {exc}\n  body: {body}")

    start = time.perf_counter()
    try:
        one()
    except Unsatisfiable:  # no invalid request exists for an operation without parameters or body
        pass
    finally:
        session.close()
        outcome.seconds = time.perf_counter() - start
    return outcome


def fuzz_all(base: str, key: str | None, admin_key: str | None, examples: int, reload_examples: int) -> list[Outcome]:
    """Every operation of the served schema, valid then invalid requests."""
    outcomes = []
    for label, operation in operations(load_schema(base, key)).items():
        n = reload_examples if operation.path.startswith(ADMIN_PATHS) else examples
        for mode in ("positive", "negative"):
            outcomes.append(fuzz(operation, base, key, admin_key, n, mode))
            print(f"  {label} [{mode}]: {outcomes[-1].examples} requests", file=sys.stderr)
    return outcomes


def tracebacks(log: str) -> int:
    """How many tracebacks a server log holds."""
    return len(re.findall(r"^Traceback \(most recent call last\):", log, flags=re.M))


def table(outcomes: list[Outcome]) -> str:
    lines = [
        "| operation | mode | examples | statuses seen | 5xx | schema violations | seconds |",
        "|---|---|---:|---|---:|---:|---:|",
    ]
    for o in outcomes:
        seen = ", ".join(f"{s}: {n}" for s, n in sorted(o.statuses.items()))
        lines.append(
            f"| {o.operation} | {o.mode} | {o.examples} | {seen} | {o.server_errors} | {len(o.failures)} |"
            f" {o.seconds:.1f} |"
        )
    return "\n".join(lines)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve(env: dict, log: Path):
    """``bentoml serve`` on a free loopback port until ``/readyz`` answers; stopped on exit."""
    import requests

    port = _free_port()
    out = open(log, "w")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "bentoml", "serve", "serving.service:CustomerValueService",
         "--host", "127.0.0.1", "--port", str(port)],
        env=os.environ | env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 180
        while True:
            with contextlib.suppress(requests.RequestException):
                if requests.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            if proc.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"server did not start: {log.read_text()[-3000:]}")
            time.sleep(0.5)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        out.close()


def prepare(tmp: Path, customers: int) -> dict:
    """A small model trained, registered as ``fuzz-model@champion`` in a sqlite registry, and its scored snapshot."""
    sys.path.insert(0, str(ROOT))
    from features import ColumnMap, read_transactions
    from features.generate import GeneratorConfig, write_generated
    from models.boosting import BoosterConfig
    from training.score import score
    from training.tracking import connect, log_training, set_alias
    from training.train import TrainConfig, train

    as_of = dt.date(2025, 1, 1)
    uri = f"sqlite:///{tmp / 'mlflow.db'}"
    os.environ["MLFLOW_TRACKING_URI"] = uri
    cfg = GeneratorConfig(customers=customers, start=dt.date(2022, 1, 1), end=as_of, seed=11)
    log = read_transactions(write_generated(cfg, tmp / "data")["transactions"], ColumnMap(order="order_id"))
    config = TrainConfig(horizon="120d", snapshots=8, every="42d", booster=BoosterConfig(max_rounds=100))
    result = train(log, as_of, config)
    _, version = log_training(result, config, {"case": "fuzz benchmark"}, "bench", "bench", "fuzz-model", uri)
    set_alias(connect(uri), "fuzz-model", "champion", version)
    score(log, as_of, result.bundle).predictions.to_parquet(tmp / "scores.parquet", index=False)
    return {
        "MLFLOW_TRACKING_URI": uri,
        "CLV_MODEL_URI": "models:/fuzz-model@champion",
        "CLV_SNAPSHOT": str(tmp / "scores.parquet"),
        "CLV_API_KEY": "bench-key",
        "CLV_ADMIN_KEY": "bench-admin-key",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "BENTOML_DO_NOT_TRACK": "true",
        "BENTOML_HOME": str(tmp / "bentoml"),  # a server starting wipes its home's metrics: not another's
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--examples", type=int, default=200, help="per operation and mode (valid, invalid)")
    parser.add_argument("--reload-examples", type=int, default=20, help="for /admin/reload, per mode")
    parser.add_argument("--customers", type=int, default=2000)
    args = parser.parse_args()
    os.environ.update(MLFLOW_DISABLE_TELEMETRY="true", BENTOML_DO_NOT_TRACK="true", DO_NOT_TRACK="true")
    tmp = Path(tempfile.mkdtemp(prefix="clv-fuzz-bench-"))
    os.chdir(tmp)  # MLflow's default artifact root (./mlruns) lands in the temp dir
    env = prepare(tmp, args.customers)
    t0 = time.perf_counter()
    with serve(env, tmp / "server.log") as base:
        outcomes = fuzz_all(base, env["CLV_API_KEY"], env["CLV_ADMIN_KEY"], args.examples, args.reload_examples)
    log = (tmp / "server.log").read_text()
    print(f"\nschemathesis against /docs.json, {dt.date.today()}, {time.perf_counter() - t0:.0f} s in all\n")
    print(table(outcomes))
    client_errors = sum(n for o in outcomes for s, n in o.statuses.items() if 400 <= s < 500)
    print(f"\n4xx answers: {client_errors}; tracebacks in the server log: {tracebacks(log)} ({tmp / 'server.log'})")
    for failure in [f for o in outcomes for f in o.failures][:20]:
        print(f"\n{failure}")
    if any(o.failures for o in outcomes):
        sys.exit(1)


if __name__ == "__main__":
    main()
