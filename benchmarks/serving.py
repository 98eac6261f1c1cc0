"""Serving speed: the same registered model behind ``mlflow models serve --env-manager local`` and behind this
project's BentoML service, one worker each, same machine, same run, loopback only, bounded load.

Reports single-customer latency (p50/p99, one request at a time) and throughput (customers/s) for 100-customer
requests at concurrency 16. MLflow's server is sent feature rows (it cannot look customers up); ours is sent ids
and answers from the scored snapshot. Run: ``python benchmarks/serving.py`` (about 3 minutes).
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import datetime as dt
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from features import ColumnMap, build_features, read_transactions  # noqa: E402
from features.generate import GeneratorConfig, write_generated  # noqa: E402
from models.boosting import BoosterConfig  # noqa: E402
from training.score import score  # noqa: E402
from training.tracking import connect, log_training  # noqa: E402
from training.train import TrainConfig, train  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait(port: int, path: str, proc: subprocess.Popen, seconds: float = 180) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", path)
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise RuntimeError("server did not become ready")


def post(conn: http.client.HTTPConnection, path: str, body: bytes) -> float:
    t0 = time.perf_counter()
    conn.request("POST", path, body=body, headers={"content-type": "application/json"})
    resp = conn.getresponse()
    resp.read()
    if resp.status != 200:
        raise RuntimeError(f"{path} answered {resp.status}")
    return time.perf_counter() - t0


def latency(port: int, path: str, bodies: list[bytes], n: int) -> tuple[float, float]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    for b in bodies[:20]:
        post(conn, path, b)
    times = [post(conn, path, bodies[i % len(bodies)]) for i in range(n)]
    return float(np.percentile(times, 50) * 1e3), float(np.percentile(times, 99) * 1e3)


def throughput(port: int, path: str, bodies: list[bytes], per_request: int, requests: int, workers: int = 16) -> float:
    def run(k: int) -> int:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        done = 0
        for i in range(k, requests, workers):
            post(conn, path, bodies[i % len(bodies)])
            done += per_request
        return done

    t0 = time.perf_counter()
    with cf.ThreadPoolExecutor(workers) as pool:
        total = sum(pool.map(run, range(workers)))
    return total / (time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--single", type=int, default=500, help="single-customer requests per server")
    parser.add_argument("--batches", type=int, default=200, help="100-customer requests per server")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="clv-serve-bench-"))
    os.chdir(tmp)  # MLflow's default artifact root (./mlruns) then lands in the temp dir too
    uri = f"sqlite:///{tmp / 'mlflow.db'}"
    os.environ.update(MLFLOW_TRACKING_URI=uri, MLFLOW_DISABLE_TELEMETRY="true", BENTOML_DO_NOT_TRACK="true")
    cfg = GeneratorConfig(customers=args.customers, seed=9)
    paths = write_generated(cfg, tmp / "data")
    log = read_transactions(paths["transactions"], ColumnMap(order="order_id"))
    config = TrainConfig(horizon="181d", booster=BoosterConfig(max_rounds=300))
    result = train(log, cfg.end, config)
    connect(uri)
    _, version = log_training(result, config, {"case": "serving benchmark"}, "bench", "bench", "bench-model", uri)
    model = f"models:/bench-model/{version}"
    snap = score(log, cfg.end, result.bundle).predictions
    snap.to_parquet(tmp / "scores.parquet", index=False)
    feats = build_features(log, cfg.end)
    ids = snap["customer_id"].tolist()
    rng = np.random.default_rng(0)

    def rows(k: int) -> bytes:
        sample = feats.iloc[rng.integers(0, len(feats), k)]
        payload = json.loads(sample.to_json(orient="split", date_format="iso", index=False))
        return json.dumps({"dataframe_split": payload}).encode()

    def idbody(k: int) -> bytes:
        return json.dumps({"customer_ids": [ids[i] for i in rng.integers(0, len(ids), k)]}).encode()

    servers = {
        "mlflow models serve": (
            [sys.executable, "-m", "mlflow", "models", "serve", "-m", model, "--env-manager", "local",
             "--host", "127.0.0.1", "--workers", "1"],
            "/invocations", "/ping", rows,
        ),
        "BentoML service (this project)": (
            [sys.executable, "-m", "bentoml", "serve", "serving.service:CustomerValueService", "--host", "127.0.0.1"],
            "/predict", "/readyz", idbody,
        ),
    }  # fmt: skip
    results = []
    for name, (cmd, path, ready, make) in servers.items():
        port = free_port()
        env = os.environ | {
            "CLV_MODEL_URI": model,
            "CLV_SNAPSHOT": str(tmp / "scores.parquet"),
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",  # mlflow execs uvicorn
        }
        proc = subprocess.Popen(
            [*cmd, "--port", str(port)], env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            wait(port, ready, proc)
            p50, p99 = latency(port, path, [make(1) for _ in range(50)], args.single)
            rate = throughput(port, path, [make(100) for _ in range(50)], 100, args.batches)
            results.append((name, p50, p99, rate))
            print(f"  {name}: p50 {p50:.1f} ms, p99 {p99:.1f} ms, {rate:,.0f} customers/s", file=sys.stderr)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    print(f"\n{args.customers:,} customers, model {model}, {dt.date.today()}\n")
    print("| server | 1 customer p50 ms | 1 customer p99 ms | 100-customer requests, concurrency 16: customers/s |")
    print("|---|---:|---:|---:|")
    for name, p50, p99, rate in results:
        print(f"| {name} | {p50:.1f} | {p99:.1f} | {rate:,.0f} |")
    if len(results) == 2:
        print(f"\nthroughput ratio (this service / mlflow): {results[1][3] / results[0][3]:.1f}x")


if __name__ == "__main__":
    main()
