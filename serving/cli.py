"""The serving stage's commands: ``clv serve`` (the HTTP service) and ``clv bento`` (a self-contained Bento)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer

from clv import defaults
from clv.options import TrackingUri
from clv.terminal import current
from features import InputError

SERVICE = "serving.service:CustomerValueService"
Snapshot = Annotated[Path | None, typer.Option(help="Scores written by `clv score`, for /predict and /target.")]


def _check_snapshot(snapshot: Path | None) -> None:
    if snapshot is not None and not snapshot.is_file():
        raise InputError(f"--snapshot {snapshot} does not exist: write it with `clv score --out {snapshot}`")


def serve(
    model: Annotated[str, typer.Option(help="Model URI the service loads.")] = defaults.CHAMPION_URI,
    snapshot: Snapshot = None,
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port.")] = 3000,
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    tracking_uri: TrackingUri = None,
) -> None:
    """Start the HTTP prediction service (BentoML). Set CLV_API_KEY to require `Authorization: Bearer <key>`, and
    CLV_ADMIN_KEY to open /admin/reload (locked without it)."""
    from serving.middleware import check_key

    for name in ("CLV_API_KEY", "CLV_ADMIN_KEY"):
        try:
            check_key(name, os.environ.get(name))
        except ValueError as exc:
            raise InputError(str(exc)) from None
    _check_snapshot(snapshot)
    env = os.environ | defaults.TELEMETRY_OFF
    env |= {"CLV_MODEL_URI": model, "MLFLOW_TRACKING_URI": defaults.tracking_uri(tracking_uri)}
    if snapshot is not None:
        env["CLV_SNAPSHOT"] = str(snapshot.resolve())
    cmd = [sys.executable, "-m", "bentoml", "serve", SERVICE, "--host", host, "--port", str(port)]
    base = f"http://{host}:{port}"
    current().out.print(f"serving {model} on {base}: API docs {base}/, OpenAPI spec {base}/docs.json", soft_wrap=True)
    raise typer.Exit(run_forwarding_signals(cmd, env))


def run_forwarding_signals(cmd: list[str], env: dict) -> int:
    """Run the server and pass SIGTERM / SIGINT on to it: it drains in-flight requests and exits, and so do we;
    nothing is left holding the port. Returns its exit code."""
    child = subprocess.Popen(cmd, env=env)

    def forward(signum, frame):
        child.send_signal(signum)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        return child.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def bento(
    snapshot: Annotated[Path, typer.Option(help="Scores written by `clv score`, served by /predict and /target.")],
    model: Annotated[str, typer.Option(help="Model URI (an alias is resolved to its version).")] = (
        defaults.CHAMPION_URI
    ),
    tracking_uri: TrackingUri = None,
) -> None:
    """Build a self-contained Bento: the model, the snapshot, the code and the uv.lock requirements; `bentoml serve`
    then needs no MLflow."""
    import mlflow

    from serving.bento import build_bento

    _check_snapshot(snapshot)
    uri = defaults.tracking_uri(tracking_uri)
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")  # an unreachable registry fails in seconds
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    term = current()
    with term.status(f"storing {model} and {snapshot} in the BentoML model store, building the Bento"):
        tag = build_bento(model, snapshot)
    for line in (f"built Bento [bold]{tag}[/]", f"serve it: bentoml serve {tag}", f"image: bentoml containerize {tag}"):
        term.out.print(line, highlight=False, soft_wrap=True)
