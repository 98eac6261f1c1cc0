"""The service under load, end to end over loopback: head-of-line blocking of lookups by history scoring, a
2,000-request load, a hot swap (promote + re-scored snapshot + reload) during that load, and SIGTERM during load.

Everything is real: a generated log, two small models trained and logged to a local ``mlflow server`` (sqlite,
proxied artifacts), registered and promoted by alias, a snapshot scored by each, and ``bentoml serve`` started as
``clv serve`` starts it. Every latency is a whole request timed by the client (Python threads, one keep-alive
connection each, on the same 2 cores as the server: the client's own cost is in every number). Ratios are against
a yardstick measured in the same run. Run: ``python benchmarks/service_load.py`` (about 4 minutes).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.serving import free_port  # noqa: E402
from features import ColumnMap, read_transactions  # noqa: E402
from features.generate import GeneratorConfig, write_generated  # noqa: E402
from models.boosting import BoosterConfig  # noqa: E402
from training.score import score  # noqa: E402
from training.tracking import connect, log_training, set_alias  # noqa: E402
from training.train import TrainConfig, train  # noqa: E402

KEY, ADMIN, NAME = "bench-key", "bench-admin", "bench-model"
AS_OF = dt.date(2025, 1, 1)
QUIET = {"MLFLOW_DISABLE_TELEMETRY": "true", "BENTOML_DO_NOT_TRACK": "true", "DO_NOT_TRACK": "true"}


# ---------------------------------------------------------------- client


@dataclass
class Call:
    path: str
    start: float  # before the request is written
    sent: float | None = None  # the whole request written
    end: float | None = None
    status: int | str | None = None  # HTTP status, or the error's name
    fresh: bool = False  # sent on a new connection (not a kept-alive one)
    body: bytes = b""


class Client:
    """One keep-alive connection; reconnects after an error. Times whole requests."""

    def __init__(self, port: int, timeout: float = 120):
        self.port, self.timeout, self.conn = port, timeout, None

    def call(self, path: str, body: bytes | None, key: str = KEY, on_sent=None, keep: bool = True) -> Call:
        headers = {"authorization": f"Bearer {key}", "content-type": "application/json"}
        c = Call(path, time.perf_counter())
        try:
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
                c.fresh = True
            self.conn.request("POST" if body is not None else "GET", path, body=body, headers=headers)
            c.sent = time.perf_counter()
            if on_sent:
                on_sent(c)
            resp = self.conn.getresponse()
            data = resp.read()
            c.status, c.body = resp.status, (data if keep else b"")
        except (OSError, http.client.HTTPException) as exc:
            c.status = type(exc).__name__
            self.close()
        c.end = time.perf_counter()
        return c

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def ms(values) -> tuple[float, float, float]:
    a = np.asarray(values) * 1e3
    return float(np.percentile(a, 50)), float(np.percentile(a, 99)), float(a.max())


def get_json(port: int, path: str) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as resp:
        return json.loads(resp.read())


# ---------------------------------------------------------------- servers


def start_mlflow(root: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = os.environ | QUIET | {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    env.pop("MLFLOW_TRACKING_URI", None)
    cmd = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}",
           "--artifacts-destination", str(root / "artifacts"), "--host", "127.0.0.1", "--port", str(port),
           "--workers", "1"]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env, cwd=root, stdout=open(root / "mlflow.log", "w"), stderr=subprocess.STDOUT)  # noqa: SIM115
    uri = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while True:
        with contextlib.suppress(OSError), urllib.request.urlopen(f"{uri}/health", timeout=2) as resp:
            if resp.status == 200:
                return proc, uri
        if proc.poll() is not None or time.time() > deadline:
            raise RuntimeError((root / "mlflow.log").read_text()[-2000:])
        time.sleep(0.5)


SERVE_BENTOML = "bentoml serve"
SERVE_CLV = "clv serve"


def start_service(env: dict, log: Path, how: str = SERVE_BENTOML) -> tuple[subprocess.Popen, int]:
    port = free_port()
    if how == SERVE_BENTOML:
        cmd = [sys.executable, "-m", "bentoml", "serve", "serving.service:CustomerValueService",
               "--host", "127.0.0.1", "--port", str(port)]  # fmt: skip
    else:
        cmd = [sys.executable, "-m", "clv", "serve", "--model", env["CLV_MODEL_URI"],
               "--snapshot", env["CLV_SNAPSHOT"], "--port", str(port),
               "--tracking-uri", env["MLFLOW_TRACKING_URI"]]  # fmt: skip
    proc = subprocess.Popen(
        cmd,
        env=os.environ | QUIET | env,
        cwd=ROOT,
        stdout=open(log, "w"),  # noqa: SIM115
        stderr=subprocess.STDOUT,  # noqa: SIM115
    )
    deadline = time.time() + 180
    while True:
        with contextlib.suppress(OSError, ValueError):
            if get_json(port, "/readyz").get("ready"):
                return proc, port
        if proc.poll() is not None or time.time() > deadline:
            raise RuntimeError(log.read_text()[-3000:])
        time.sleep(0.3)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()


# ---------------------------------------------------------------- setup


@dataclass
class Setup:
    tmp: Path
    tracking: str
    env: dict
    ids: list[str]
    old_version: str
    new_version: str
    new_snapshot: Path  # re-scored by the new version, replaced onto env["CLV_SNAPSHOT"] during the hot swap
    old_clv: dict[str, float]
    new_clv: dict[str, float]
    history: dict[bool, bytes]  # reasons -> body
    history_rows: int
    history_customers: int
    notes: list[str] = field(default_factory=list)


def setup(tmp: Path, tracking: str, customers: int, history_rows: int) -> Setup:
    t0 = time.perf_counter()
    small = write_generated(GeneratorConfig(customers=3000, end=AS_OF, seed=9), tmp / "train-data")
    train_log = read_transactions(small["transactions"], ColumnMap(order="order_id"))
    big = write_generated(GeneratorConfig(customers=customers, end=AS_OF, seed=10), tmp / "data")
    log = read_transactions(big["transactions"], ColumnMap(order="order_id"))
    # threads=1: on this 2-core machine LightGBM's default (all cores) trained 3x slower
    configs = [
        TrainConfig(horizon="120d", snapshots=4, every="42d",
                    booster=BoosterConfig(max_rounds=60, min_child_samples=50, threads=1)),
        TrainConfig(horizon="120d", snapshots=4, every="42d", seed=1,
                    booster=BoosterConfig(max_rounds=40, min_child_samples=50, threads=1, seed=1)),
    ]  # fmt: skip
    connect(tracking)
    versions, snaps = [], []
    for i, config in enumerate(configs):
        result = train(train_log, AS_OF, config)
        _, version = log_training(result, config, {"case": f"service load {i}"}, "bench", "bench-load", NAME, tracking)
        versions.append(version)
        snaps.append(score(log, AS_OF, result.bundle).predictions.assign(model_version=version))  # as `clv score`
    set_alias(connect(tracking), NAME, "champion", versions[0])
    snapshot, new_snapshot = tmp / "scores.parquet", tmp / "scores.next.parquet"
    snaps[0].to_parquet(snapshot, index=False)
    snaps[1].to_parquet(new_snapshot, index=False)
    tx = log.rows.to_pandas().head(history_rows)
    records = [
        {"customer_id": c, "date": str(d), "amount": float(a)}
        for c, d, a in zip(tx.customer_id, tx.day, tx.amount, strict=True)
    ]
    history = {
        r: json.dumps({"as_of": AS_OF.isoformat(), "transactions": records, "reasons": r}).encode()
        for r in (True, False)
    }
    env = {
        "MLFLOW_TRACKING_URI": tracking,
        "CLV_MODEL_URI": f"models:/{NAME}@champion",
        "CLV_SNAPSHOT": str(snapshot),
        "CLV_API_KEY": KEY,
        "CLV_ADMIN_KEY": ADMIN,
    }
    clv = [dict(zip(s.customer_id.astype(str), s.predicted_clv.astype(float), strict=True)) for s in snaps]
    print(f"setup: {time.perf_counter() - t0:.0f} s ({len(tx):,} history rows of {tx.customer_id.nunique():,} "
          f"customers, {len(history[True]) / 1e6:.1f} MB)", file=sys.stderr)  # fmt: skip
    return Setup(tmp, tracking, env, snaps[0].customer_id.astype(str).tolist(), versions[0], versions[1],
                 new_snapshot, clv[0], clv[1], history, len(tx), int(tx.customer_id.nunique()))  # fmt: skip


# ---------------------------------------------------------------- 1. head-of-line


def head_of_line(port: int, s: Setup, seconds: float) -> list[dict]:
    rng = np.random.default_rng(1)
    bodies = [json.dumps({"customer_ids": [s.ids[i]]}).encode() for i in rng.integers(0, len(s.ids), 200)]
    probe = Client(port)
    for b in bodies[:50]:
        probe.call("/predict", b)
    rows = []

    def one_case(history_clients: int, reasons: bool) -> dict:
        stop_at = time.perf_counter() + seconds
        calls: list[Call] = []
        lock = threading.Lock()

        def heavy():
            c = Client(port)
            while time.perf_counter() < stop_at:
                r = c.call("/predict_history", s.history[reasons], keep=False)  # immediate retry after a 429
                with lock:
                    calls.append(r)
            c.close()

        threads = [threading.Thread(target=heavy) for _ in range(history_clients)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        if history_clients:
            time.sleep(0.5)  # the first bodies are in
        lat, i, bad = [], 0, 0
        while time.perf_counter() < stop_at:
            r = probe.call("/predict", bodies[i % len(bodies)])
            lat.append(r.end - r.start)
            bad += r.status != 200
            i += 1
        for t in threads:
            t.join()
        ok = [c for c in calls if c.status == 200]
        took = (max(c.end for c in ok) - t0) if ok else float("nan")
        p50, p99, mx = ms(lat)
        return {
            "case": f"{history_clients} history clients, reasons {'on' if reasons else 'off'}" if history_clients
            else "alone (yardstick)",
            "n": len(lat), "bad": bad, "p50": p50, "p99": p99, "max": mx,
            "h_ok": len(ok), "h_429": sum(c.status == 429 for c in calls),
            "h_other": sum(c.status not in (200, 429) for c in calls),
            "h_p50": ms([c.end - c.start for c in ok])[0] / 1e3 if ok else float("nan"),
            "cust_s": len(ok) * s.history_customers / took if ok else 0.0,
            "tx_s": len(ok) * s.history_rows / took if ok else 0.0,
        }  # fmt: skip

    for n, reasons in ((0, True), (2, True), (2, False), (4, True)):
        rows.append(one_case(n, reasons))
        r = rows[-1]
        print(f"  head-of-line {r['case']}: p50 {r['p50']:.1f} p99 {r['p99']:.1f} max {r['max']:.0f} ms, "
              f"history {r['h_ok']} ok {r['h_429']} x 429, {r['cust_s']:,.0f} customers/s",
              file=sys.stderr)  # fmt: skip
    probe.close()
    return rows


# ---------------------------------------------------------------- 2./3. load and hot swap


def load(port: int, s: Setup, requests: int, workers: int, swap_at: int | None = None) -> dict:
    rng = np.random.default_rng(2)
    bodies = [
        json.dumps({"customer_ids": [s.ids[i] for i in rng.integers(0, len(s.ids), 100)]}).encode() for _ in range(64)
    ]
    calls: list[Call] = []
    lock = threading.Lock()
    counter = iter(range(requests))
    swap: dict = {}
    swap_ready = threading.Event()

    def worker():
        c = Client(port)
        for i in counter:  # next() on a range iterator is atomic under the GIL
            r = c.call("/predict", bodies[i % len(bodies)])
            with lock:
                calls.append(r)
                if swap_at is not None and len(calls) == swap_at:
                    swap_ready.set()
        c.close()

    def swapper():
        swap_ready.wait()
        swap["promote_start"] = time.perf_counter()
        set_alias(connect(s.tracking), NAME, "champion", s.new_version)  # promote
        s.new_snapshot.replace(s.env["CLV_SNAPSHOT"])  # the re-scored snapshot, replaced atomically
        swap["reload_start"] = time.perf_counter()
        r = Client(port).call("/admin/reload", b"{}", key=ADMIN)
        swap["reload_end"] = time.perf_counter()
        swap["reload"] = r

    threads = [threading.Thread(target=worker) for _ in range(workers)]
    if swap_at is not None:
        threads.append(threading.Thread(target=swapper))
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    took = time.perf_counter() - t0
    p50, p99, mx = ms([c.end - c.start for c in calls])
    out = {"n": len(calls), "non2xx": sum(c.status != 200 for c in calls), "p50": p50, "p99": p99, "max": mx,
           "rps": len(calls) / took, "statuses": sorted({str(c.status) for c in calls})}  # fmt: skip
    if swap_at is not None:
        out |= check_swap(calls, swap, s)
    return out


def check_swap(calls: list[Call], swap: dict, s: Setup) -> dict:
    """Which version each response names, whether its scores are that version's, and whether the switch is clean:
    no response that finished before the reload began names the new version, none started after the reload
    returned names the old one, and none started after a response naming the new version had finished names the
    old one (a flip back). Responses overlapping the reload may name either: counted as the window."""
    rs, re_ = swap["reload_start"], swap["reload_end"]
    reload = swap["reload"]
    info = json.loads(reload.body) if reload.status == 200 else {}
    ok = [c for c in calls if c.status == 200]
    named = []
    wrong_scores = 0
    for c in ok:
        body = json.loads(c.body)
        v = body["model_version"]
        truth = s.old_clv if v == s.old_version else s.new_clv if v == s.new_version else None
        if truth is None or any(
            abs(p["predicted_clv"] - truth[p["customer_id"]]) > 1e-9 * max(1, abs(truth[p["customer_id"]]))
            for p in body["predictions"]
        ):
            wrong_scores += 1
        named.append((c, v))
    old, new = s.old_version, s.new_version
    early_new = sum(c.end < rs and v == new for c, v in named)
    late_old = sum(c.start > re_ and v == old for c, v in named)
    first_new_end = min((c.end for c, v in named if v == new), default=float("inf"))
    flip_back = sum(c.start > first_new_end and v == old for c, v in named)
    window = [(c, v) for c, v in named if not (c.end < rs or c.start > re_)]

    def switches(key):
        seq = [v for c, v in sorted(named, key=key)]
        return sum(a != b for a, b in zip(seq, seq[1:], strict=False))

    in_window = [c.end - c.start for c, _ in window]
    outside = [c.end - c.start for c, _ in named if (c.end < rs or c.start > re_)]
    return {
        "reload_status": reload.status, "reload_s": re_ - rs, "promote_s": rs - swap["promote_start"],
        "reload_version": info.get("version"), "reload_snapshot_version": info.get("snapshot_model_version"),
        "old": sum(v == old for _, v in named), "new": sum(v == new for _, v in named),
        "other": sum(v not in (old, new) for _, v in named), "wrong_scores": wrong_scores,
        "early_new": early_new, "late_old": late_old, "flip_back": flip_back,
        "window": len(window), "window_old": sum(v == old for _, v in window),
        "window_new": sum(v == new for _, v in window),
        "switch_by_start": switches(lambda c_v: c_v[0].start), "switch_by_end": switches(lambda c_v: c_v[0].end),
        "p99_window": ms(in_window)[1] if in_window else float("nan"),
        "max_window": ms(in_window)[2] if in_window else float("nan"),
        "p99_outside": ms(outside)[1],
    }  # fmt: skip


# ---------------------------------------------------------------- 4. shutdown


def shutdown(s: Setup, how: str, workers: int, history_workers: int, after: float) -> dict:
    proc, port = start_service(s.env, s.tmp / f"shutdown-{how.split()[0]}.log", how)
    rng = np.random.default_rng(3)
    bodies = [
        json.dumps({"customer_ids": [s.ids[i] for i in rng.integers(0, len(s.ids), 100)]}).encode() for _ in range(32)
    ]
    calls: list[Call] = []
    inflight: set[int] = set()
    lock = threading.Lock()
    signalled = threading.Event()
    exited = threading.Event()
    sig: dict = {}

    def on_sent(c):
        with lock:
            inflight.add(id(c))

    def worker(k: int):
        cl = Client(port, timeout=60)
        i = 0
        while not exited.is_set():
            heavy = k < history_workers
            r = cl.call("/predict_history" if heavy else "/predict",
                        s.history[True] if heavy else bodies[i % len(bodies)], keep=False, on_sent=on_sent)  # fmt: skip
            i += 1
            with lock:
                inflight.discard(id(r))
                calls.append(r)
            if signalled.is_set() and not isinstance(r.status, int):
                time.sleep(0.05)  # refused: do not spin
        cl.close()

    children = psutil.Process(proc.pid).children(recursive=True)
    threads = [threading.Thread(target=worker, args=(k,)) for k in range(workers)]
    for t in threads:
        t.start()
    deadline = time.time() + 60
    while get_json(port, "/readyz")["history_busy"] < min(history_workers, 2) and time.time() < deadline:
        time.sleep(0.02)
    time.sleep(after)
    with lock:
        sig["t"] = time.perf_counter()
        sig["inflight"] = len(inflight)
        os.kill(proc.pid, signal.SIGTERM)
    signalled.set()
    try:
        code = proc.wait(timeout=120)
    except subprocess.TimeoutExpired:
        code = "did not exit in 120 s"
        proc.kill()
    exit_s = time.perf_counter() - sig["t"]
    time.sleep(0.5)
    exited.set()
    for t in threads:
        t.join()
    ts = sig["t"]
    before = [c for c in calls if c.sent is not None and c.sent < ts and c.end > ts]  # in flight at the signal
    new = [c for c in calls if c.start >= ts]
    straddle = [c for c in calls if c.start < ts and (c.sent is None or c.sent >= ts)]  # being written at the signal
    with socket.socket() as sock:  # nothing listens
        sock.settimeout(1)
        free = sock.connect_ex(("127.0.0.1", port)) != 0
    with socket.socket() as sock:  # a new server can bind it (with SO_REUSEADDR, as uvicorn and circus do: the
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # closed connections sit in TIME_WAIT)
        try:
            sock.bind(("127.0.0.1", port))
            sock.listen()
        except OSError:
            free = False
    left = [p.pid for p in children if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]

    def statuses(cs):
        out: dict = {}
        for c in cs:
            out[str(c.status)] = out.get(str(c.status), 0) + 1
        return out

    heavy_before = [c for c in before if c.path == "/predict_history"]
    failed = [
        f"{c.path} {'new' if c.fresh else 'kept-alive'} connection, sent {(ts - c.sent) * 1e3:.0f} ms before the "
        f"signal, {c.status} {c.end - ts:.2f} s after it"
        for c in before
        if c.status != 200
    ]
    resets = [c.end - ts for c in new if c.status == "ConnectionResetError"]
    return {
        "how": how, "inflight": sig["inflight"], "before": len(before),
        "before_ok": sum(c.status == 200 for c in before), "before_failed": sum(c.status != 200 for c in before),
        "before_statuses": statuses(before), "heavy_before": len(heavy_before),
        "heavy_before_ok": sum(c.status == 200 for c in heavy_before),
        "straddle": statuses(straddle), "new": statuses(new), "code": code, "exit_s": exit_s, "port_free": free,
        "children_left": left, "last_ok_after_signal": max((c.end - ts for c in calls if c.status == 200), default=0),
        "failed": failed, "new_reset_after_s": (min(resets), max(resets)) if resets else None,
    }  # fmt: skip


# ---------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=40_000, help="customers of the scored log (snapshot)")
    parser.add_argument("--history-rows", type=int, default=100_000, help="transactions per /predict_history")
    parser.add_argument("--seconds", type=float, default=10, help="each head-of-line case")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--shutdown-trials", type=int, default=1, help="SIGTERM runs per way of starting")
    parser.add_argument("--shutdown-history", type=int, default=2, help="of the clients, how many post history")
    parser.add_argument("--skip", default="", help="comma list of sections to skip: hol,load,swap,shutdown")
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    started = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="clv-load-bench-"))
    os.chdir(tmp)
    os.environ.update(QUIET)
    mlflow_proc, tracking = start_mlflow(tmp)
    try:
        with contextlib.redirect_stdout(sys.stderr):  # MLflow prints run links
            s = setup(tmp, tracking, args.customers, args.history_rows)
        proc, port = start_service(s.env, tmp / "service.log")
        try:
            hol = head_of_line(port, s, args.seconds) if "hol" not in skip else []
            plain = load(port, s, args.requests, args.concurrency) if "load" not in skip else None
            if plain:
                print(f"  load: {plain}", file=sys.stderr)
            swapped = (
                load(port, s, args.requests, args.concurrency, swap_at=args.requests // 3)
                if "swap" not in skip
                else None
            )
            if swapped:
                print(f"  hot swap: {swapped}", file=sys.stderr)
        finally:
            stop(proc)
        downs = []
        if "shutdown" not in skip:
            set_alias(connect(tracking), NAME, "champion", s.old_version)  # whichever: both serve
            for how in (SERVE_BENTOML, SERVE_CLV):
                for _ in range(args.shutdown_trials):
                    downs.append(shutdown(s, how, args.concurrency, args.shutdown_history, after=0.5))
                print(f"  shutdown: {downs[-1]}", file=sys.stderr)
    finally:
        stop(mlflow_proc)
    report(s, args, hol, plain, swapped, downs, time.perf_counter() - started)


def report(s: Setup, args, hol, plain, swapped, downs, took: float) -> None:
    print(f"\n`make bench-service`, {dt.date.today()}: snapshot of {len(s.ids):,} customers, models:/{NAME} "
          f"v{s.old_version} -> v{s.new_version}, one service worker, client threads on the same 2 cores; "
          f"whole run {took:.0f} s\n")  # fmt: skip
    if hol:
        y = hol[0]
        print(f"1. Head-of-line: single-id /predict, one request at a time, while N clients post /predict_history of "
              f"{s.history_rows:,} transactions ({s.history_customers:,} customers, "
              f"{len(s.history[True]) / 1e6:.1f} MB) back to back ({args.seconds:g} s each; a 429 is retried at once; "
              f"CLV_HISTORY_WORKERS=2)\n")  # fmt: skip
        print("| case | /predict n | p50 ms | p99 ms | max ms | p99 x alone | history 200 | history 429 | "
              "history p50 s | customers/s | transactions/s |")  # fmt: skip
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for r in hol:
            print(f"| {r['case']} | {r['n']:,} | {r['p50']:.1f} | {r['p99']:.1f} | {r['max']:.0f} | "
                  f"{r['p99'] / y['p99']:.1f} | {r['h_ok']} | {r['h_429']} | "
                  + (f"{r['h_p50']:.2f} | {r['cust_s']:,.0f} | {r['tx_s']:,.0f} |"
                     if r["h_ok"] else "- | - | - |"))  # fmt: skip
        print()
    if plain or swapped:
        print(f"2./3. Load: {args.requests:,} /predict of 100 random ids at concurrency {args.concurrency} "
              "(keep-alive); hot swap: the same load with promote + re-scored snapshot + /admin/reload after "
              f"{args.requests // 3} responses\n")  # fmt: skip
        print("| run | requests | non-2xx | p50 ms | p99 ms | max ms | requests/s | customers/s |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        for name, r in (("load", plain), ("load + hot swap", swapped)):
            if r:
                print(f"| {name} | {r['n']:,} | {r['non2xx']} | {r['p50']:.1f} | {r['p99']:.1f} | {r['max']:.0f} | "
                      f"{r['rps']:,.0f} | {r['rps'] * 100:,.0f} |")  # fmt: skip
        print()
    if swapped:
        r = swapped
        print("| hot swap | value |\n|---|---|")
        rows = [
            ("reload answer", f"{r['reload_status']}, version {r['reload_version']}, snapshot scored by "
                              f"{r['reload_snapshot_version']}, took {r['reload_s']:.2f} s "
                              f"(promote {r['promote_s']:.2f} s before)"),
            ("responses naming old / new / other version",
             f"v{s.old_version}: {r['old']}, v{s.new_version}: {r['new']}, other: {r['other']}"),
            ("responses whose scores are not those of the version they name", r["wrong_scores"]),
            ("finished before the reload began, naming the new version", r["early_new"]),
            ("started after the reload returned, naming the old version", r["late_old"]),
            ("started after a new-version response had finished, naming the old one (flip back)", r["flip_back"]),
            ("overlapping the reload (either version is right)",
             f"{r['window']}: old {r['window_old']}, new {r['window_new']}"),
            ("version changes in the sequence ordered by start / by completion",
             f"{r['switch_by_start']} / {r['switch_by_end']}"),
            ("p99 / max ms of responses overlapping the reload vs p99 outside",
             f"{r['p99_window']:.0f} / {r['max_window']:.0f} vs {r['p99_outside']:.0f}"),
        ]  # fmt: skip
        for k, v in rows:
            print(f"| {k} | {v} |")
        print()
    if downs:
        print(f"4. Shutdown: SIGTERM while {args.concurrency} clients run ({args.shutdown_history} posting "
              "/predict_history, the rest /predict of 100 ids), 0.5 s after the history workers are busy; clients "
              "keep sending until the server has exited\n")  # fmt: skip
        print("| signal sent to | in flight at the signal | of which answered 200 | not completed | "
              "history in flight -> 200 | being sent at the signal | sent after the signal | exit code | "
              "seconds to exit | port free | processes left |")  # fmt: skip
        print("|---|---:|---:|---:|---:|---|---|---:|---:|---|---:|")
        for d in downs:
            target = "`bentoml serve` process" if d["how"] == SERVE_BENTOML else "`clv serve` (forwards it)"
            failed = f"{d['before_failed']} {fmt(d['before_statuses'], 200)}".strip()
            print(f"| {target} | {d['before']} | {d['before_ok']} | {failed} | "
                  f"{d['heavy_before']} -> {d['heavy_before_ok']} | {fmt(d['straddle'])} | {fmt(d['new'])} | "
                  f"{d['code']} | {d['exit_s']:.1f} | {'yes' if d['port_free'] else 'NO'} | "
                  f"{len(d['children_left'])} |")  # fmt: skip
        print()
        for d in downs:
            for line in d["failed"]:
                print(f"- {d['how']}: in flight, not completed: {line}")
            if d["new_reset_after_s"]:
                lo, hi = d["new_reset_after_s"]
                print(f"- {d['how']}: requests sent after the signal and reset: {lo:.1f}-{hi:.1f} s after it")
        print()


def fmt(counts: dict, drop=None) -> str:
    items = [f"{k}: {v}" for k, v in sorted(counts.items()) if k != str(drop)]
    return (
        ("(" + ", ".join(items) + ")" if drop is not None else ", ".join(items))
        if items
        else ("" if drop is not None else "none")
    )


if __name__ == "__main__":
    main()
