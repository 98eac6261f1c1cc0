"""Every MLflow call of the project: the run (params, metrics, tags, datasets, plots, report), the pyfunc model,
the registry version and its aliases. A failure before the alias is set leaves no new version and the run FAILED."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from importlib.metadata import version
from pathlib import Path

import mlflow
import pandas as pd
from mlflow import MlflowClient
from mlflow.models import infer_signature

from clv import defaults
from clv.defaults import tracking_uri
from features import InputError
from features.engine import atomic_file
from training import report
from training.train import TrainConfig, TrainResult

PROJECT_ROOT = Path(__file__).resolve().parents[1]
REQUIREMENTS = [
    "lightgbm", "numpy", "pandas", "scipy", "scikit-learn", "pyarrow", "duckdb", "sqlglot", "mlflow",
]  # fmt: skip


def connect(uri: str | None = None) -> MlflowClient:
    """Point MLflow at the tracking URI; a server that does not answer is a clear error, not minutes of retries."""
    defaults.telemetry_off()
    resolved = tracking_uri(uri)
    if resolved.startswith(("http://", "https://")):
        try:
            with urllib.request.urlopen(resolved.rstrip("/") + "/health", timeout=10):
                pass
        except OSError as exc:
            raise InputError(f"cannot reach the MLflow tracking server at {resolved}: {exc}") from None
    mlflow.set_tracking_uri(resolved)
    mlflow.set_registry_uri(resolved)
    return MlflowClient(resolved, resolved)


def pip_requirements() -> list[str]:
    """Exact versions of what the model needs at load time (the project's own code ships as code paths)."""
    pins = [f"{name}=={version(name)}" for name in REQUIREMENTS]
    return pins + [f"ibis-framework[duckdb]=={version('ibis-framework')}"]


def git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=5, check=True
        )
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def set_alias(client: MlflowClient, name: str, alias: str, model_version: str) -> None:
    client.set_registered_model_alias(name, alias, model_version)


SAMPLING_SECONDS = 10  # system metrics (CPU, memory, disk, network) every 10 s while the run is open
KIND_TAG = "mlflow.experimentKind"  # the experiment type the MLflow 3 UI opens it as
CURVE_BATCH = 1000  # metric values per request (the REST API's limit)
DESCRIPTION = (
    "Per customer with a purchase before the as-of date: the probability of no purchase over the next horizon "
    "days (churn), the net spend over them (CLV) with a P10-P90 interval, and the expected purchases. LightGBM "
    "corrections of a BTYD (BG/NBD + Gamma-Gamma) baseline, blended with it as chosen on held-out customers. Each "
    "version says its as-of date, horizon, backtest against the baseline and, once judged, its promotion."
)


@dataclass
class TrainingRun:
    """The MLflow run a training records into, open from before the training starts."""

    run_id: str
    experiment_id: str
    name: str
    client: MlflowClient
    uri: str
    registering: contextlib.ExitStack  # what must outlive the run (the held interrupts while registering)
    interrupted: list[int] = field(default_factory=list)  # signals that arrived while the run was open

    def checkpoint(self) -> None:
        """Raise KeyboardInterrupt if SIGTERM / SIGINT arrived since the run opened, even if the KeyboardInterrupt
        it raised was swallowed (a C extension such as DuckDB can clear it while a query runs)."""
        if self.interrupted:
            raise KeyboardInterrupt

    @property
    def url(self) -> str:
        """The run's page: on the server, or on ``mlflow ui`` (127.0.0.1:5000) for a local store."""
        path = f"/#/experiments/{self.experiment_id}/runs/{self.run_id}"
        if self.uri.startswith(("http://", "https://")):
            return self.uri.rstrip("/") + path
        return f"http://127.0.0.1:5000{path}"

    @property
    def ui_command(self) -> str | None:
        """How to open the pages of a local store, None for a server."""
        if self.uri.startswith(("http://", "https://")):
            return None
        return f"mlflow ui --backend-store-uri {self.uri}"


def run_name(client: MlflowClient, experiment_id: str, as_of, horizon_days: int) -> str:
    """``train 2025-01-01 h181d 20261130-151203`` (UTC start), with a suffix if that name is taken already."""
    base = f"train {as_of} h{horizon_days}d {dt.datetime.now(dt.UTC):%Y%m%d-%H%M%S}"
    taken = {
        r.info.run_name
        for r in client.search_runs([experiment_id], filter_string=f"attributes.run_name LIKE '{base}%'")
    }
    name, n = base, 1
    while name in taken:
        n += 1
        name = f"{base}-{n}"
    return name


@contextlib.contextmanager
def training_run(as_of, horizon_days: int, experiment: str, uri: str | None = None):
    """Open the run before training so its duration is the training's; yields a :class:`TrainingRun`. The run
    ends FAILED if the block raises (or is interrupted), FINISHED otherwise; system metrics are sampled meanwhile."""
    client = connect(uri)
    exp = mlflow.set_experiment(experiment)
    if KIND_TAG not in exp.tags:  # the UI then opens the experiment as "Machine learning" (runs), not GenAI (traces)
        client.set_experiment_tag(exp.experiment_id, KIND_TAG, "custom_model_development")
    end_orphaned_runs(client, exp.experiment_id)
    name = run_name(client, exp.experiment_id, as_of, horizon_days)
    mlflow.set_system_metrics_sampling_interval(SAMPLING_SECONDS)
    mlflow.set_system_metrics_samples_before_logging(1)
    arrived: list[int] = []
    with (
        interrupts_noted(arrived),  # restored last: after the handlers held while registering
        contextlib.ExitStack() as registering,
        contextlib.ExitStack() as running,
    ):
        with interrupts_held():  # a SIGTERM while the run is being created ends it FAILED once it exists
            run = running.enter_context(
                mlflow.start_run(
                    run_name=name,
                    tags={HOST_TAG: socket.gethostname(), PID_TAG: str(os.getpid())},
                    log_system_metrics=True,
                )
            )
        yield TrainingRun(run.info.run_id, exp.experiment_id, name, client, tracking_uri(uri), registering, arrived)


@contextlib.contextmanager
def interrupts_noted(arrived: list[int]):
    """SIGTERM / SIGINT handled as before (by the handler already installed, e.g. the CLI's, which raises
    KeyboardInterrupt), and also appended to ``arrived`` for :meth:`TrainingRun.checkpoint`. Main thread only, and
    only over handlers that are Python functions."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.getsignal(sig) for sig in HELD_SIGNALS}

    def note(signum, frame):
        arrived.append(signum)
        previous[signum](signum, frame)

    installed = {sig: signal.signal(sig, note) for sig, handler in previous.items() if callable(handler)}
    try:
        yield
    finally:
        for sig, handler in installed.items():
            signal.signal(sig, handler)


def log_training(
    result: TrainResult,
    config: TrainConfig,
    facts: dict[str, str],
    source: str,
    experiment: str,
    register_as: str,
    uri: str | None = None,
    comparison: pd.DataFrame | None = None,
) -> tuple[str, str]:
    """Open a run, record a finished training in it and register the model as ``challenger``; returns (run id,
    model version). ``clv train`` opens the run before training instead (see :func:`training_run`)."""
    with training_run(result.bundle.trained_as_of, result.bundle.horizon_days, experiment, uri) as run:
        version_, _, _ = record(run, result, config, facts, source, register_as, comparison)
    return run.run_id, version_


MLFLOW_GROUPS = (("model.", "backtest/model/"), ("baseline.", "backtest/baseline/"), ("backtest.", "backtest/"))


def mlflow_metrics(metrics: dict[str, float]) -> dict[str, float]:
    """``result.metrics`` under MLflow names grouped by ``/``: ``model.roc_auc`` -> ``backtest/model/roc_auc``,
    ``baseline.x`` -> ``backtest/baseline/x``, ``backtest.x`` -> ``backtest/x``, ``final.x`` -> ``final/x``. The
    signed ``lift.*`` are left out: the ``verdict/*`` tags say which side is better."""
    out = {}
    for key, value in metrics.items():
        if key.startswith("lift."):
            continue
        for old, new in (*MLFLOW_GROUPS, ("final.", "final/")):
            if key.startswith(old):
                out[new + key.removeprefix(old)] = value
                break
        else:
            out[key] = value
    return out


def verdict_tags(verdicts: dict[str, tuple[str, str]]) -> dict[str, str]:
    """``verdict/<metric>`` against the BTYD baseline: better | worse | tie beyond noise where there is a bootstrap
    interval, ahead | behind | tie by point estimate elsewhere, undefined; and ``verdict/how``."""
    tags = {f"verdict/{metric}": verdict for metric, (verdict, _) in verdicts.items()}
    hows = sorted({how for _, how in verdicts.values()})
    tags["verdict/how"] = "; ".join(
        f"{', '.join(m for m, (_, h) in verdicts.items() if h == how)}: {how}" for how in hows
    )
    return tags


def curves(result: TrainResult) -> dict[str, list[float]]:
    """``curve/<fit>/<output>/<metric>``: each booster's validation loss after each round (backtest and final)."""
    out = {}
    for fit, bundle in (("backtest", result.backtest_bundle), ("final", result.bundle)):
        for output, model in (("churn", bundle.churn), ("clv", bundle.clv), ("purchases", bundle.purchases)):
            for metric, values in getattr(model, "evals_result_", {}).items():
                out[f"curve/{fit}/{output}/{metric}"] = values
    return out


def _log_curves(run: TrainingRun, result: TrainResult) -> None:
    from mlflow.entities import Metric

    now = int(dt.datetime.now(dt.UTC).timestamp() * 1000)
    points = [
        Metric(key, float(v), now, step) for key, values in curves(result).items() for step, v in enumerate(values, 1)
    ]
    for i in range(0, len(points), CURVE_BATCH):
        run.client.log_batch(run.run_id, metrics=points[i : i + CURVE_BATCH], synchronous=True)


def record(
    run: TrainingRun,
    result: TrainResult,
    config: TrainConfig,
    facts: dict[str, str],
    source: str,
    register_as: str,
    comparison: pd.DataFrame | None = None,
    report_to: Path | None = None,
) -> tuple[str, str, str]:
    """Record a training in its open run and register the model as ``challenger``; returns (model version, where
    the HTML report is, the verdict line). ``comparison``: a :func:`training.promote.judge` comparison of this
    backtest (against the baseline, and the champion if any); computed against the baseline when not given.
    ``report_to``: also write the report there."""
    from training.promote import judge, metric_verdicts, summary

    if comparison is None:
        comparison = judge(backtest_frame(result), has_champion=False).comparison
    verdicts = metric_verdicts(result.metrics, comparison)
    line = summary(result.metrics, verdicts)
    data = transactions_dataset(source)
    mlflow.log_params(config.as_params())
    mlflow.set_tags(
        facts
        | verdict_tags(verdicts)
        | {
            "git_commit": git_commit(),
            "final_model": f"the BTYD baseline alone: {result.final_fit.baseline_only}"
            if result.final_fit.baseline_only
            else "early-stopped boosters, blended with the baseline as chosen on held-out customers",
            "customer_sample_share": f"{result.customer_share:.4f}",
            "verdict": line,
            "transactions_uri": data.source.uri,
            "transactions_digest": data.digest,
            "mlflow.note.content": _run_note(result, facts, line),
        }
    )
    mlflow.log_dict({"backtest": asdict(result.backtest_fit), "final": asdict(result.final_fit)}, "fits.json")
    _log_curves(run, result)
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        backtest_frame(result).to_parquet(tmp_path / BACKTEST_FILE, index=False)
        mlflow.log_artifact(str(tmp_path / BACKTEST_FILE), "backtest")
        plots = report.plots(result, tmp_path / "plots")
        for path in plots.values():
            mlflow.log_artifact(str(path), "plots")
        html = report.html_report(result, plots, facts, tmp_path / "report.html", comparison=comparison)
        mlflow.log_artifact(str(html))
        page = html.read_bytes()
        report.comparison_table(result.metrics).to_csv(tmp_path / "backtest_metrics.csv", index=False)
        mlflow.log_artifact(str(tmp_path / "backtest_metrics.csv"))
        comparison.to_csv(tmp_path / "comparison.csv", index=False)
        mlflow.log_artifact(str(tmp_path / "comparison.csv"), "backtest")
        model_id = _log_model(result, tmp_path)
    _log_datasets(result, data, model_id)
    # Registering and aliasing happen whole: a SIGTERM now is held until the run has ended FINISHED.
    run.checkpoint()
    run.registering.enter_context(interrupts_held())
    version_tags = {
        "as_of": result.bundle.trained_as_of,
        "horizon_days": str(result.bundle.horizon_days),
        "backtest_cutoff": result.test_cutoff.isoformat(),
        "transactions": data.source.uri,
    }
    version_ = _register(
        run.client, model_id, register_as, run.run_id, version_tags, _version_description(result, line)
    )
    if report_to is None:
        return version_, mlflow.get_artifact_uri("report.html"), line
    report_to.parent.mkdir(parents=True, exist_ok=True)  # a copy for the user, once the version exists
    with atomic_file(report_to) as tmp_report:
        tmp_report.write_bytes(page)
    return version_, str(report_to), line


def _run_note(result: TrainResult, facts: dict[str, str], line: str) -> str:
    """The run's description (its page's "Description"): what was trained on what, and the verdict."""
    return (
        f"Training as of {result.bundle.trained_as_of}, horizon {result.bundle.horizon_days} days, on "
        f"{facts.get('transactions', 'the purchase log')}. Backtest: a model on data before {result.test_cutoff}, "
        f"tested on the next {result.test_window_days} days ({int(result.metrics.get('backtest.customers', 0)):,} "
        f"customers): what ships {line}. Metrics: backtest/model/* vs backtest/baseline/*; verdict/* tags say which "
        "is better; curve/* are the boosters' validation losses per round."
    )


def _version_description(result: TrainResult, line: str) -> str:
    m = result.metrics
    return (
        f"Churn probability and CLV over the next {result.bundle.horizon_days} days of each customer with a purchase "
        f"before the as-of date (as-of {result.bundle.trained_as_of}, horizon {result.bundle.horizon_days} days). "
        f"Backtest on {int(m.get('backtest.customers', 0)):,} customers over the {result.test_window_days} "
        f"days after {result.test_cutoff}: {line}. Final model: "
        + (
            f"the BTYD baseline alone ({result.final_fit.baseline_only})."
            if result.final_fit.baseline_only
            else "early-stopped boosters blended with the baseline."
        )
        + " Not yet judged for promotion."
    )


@contextlib.contextmanager
def interrupts_held():
    """SIGTERM / SIGINT arriving inside the block are held until it ends, then raised as KeyboardInterrupt (main
    thread only; elsewhere signals cannot arrive anyway)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    arrived: list[int] = []
    previous = {sig: signal.signal(sig, lambda signum, frame: arrived.append(signum)) for sig in HELD_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if arrived:
        raise KeyboardInterrupt


HELD_SIGNALS = (signal.SIGTERM, signal.SIGINT)
HOST_TAG, PID_TAG = "clv.host", "clv.pid"  # who runs a training run, so a later start can tell it was killed


def end_orphaned_runs(client: MlflowClient, experiment_id: str) -> list[str]:
    """Mark KILLED the runs of this experiment still RUNNING whose training process on this machine is gone (killed
    with SIGKILL, or the machine lost power); runs of live processes or other machines are left alone."""
    host = socket.gethostname()
    runs = client.search_runs(
        [experiment_id], filter_string=f"attributes.status = 'RUNNING' and tags.`{HOST_TAG}` = '{host}'"
    )
    ended = []
    for run in runs:
        pid = run.data.tags.get(PID_TAG, "")
        if pid.isdigit() and not _alive(int(pid)):
            client.set_terminated(run.info.run_id, "KILLED")
            ended.append(run.info.run_id)
    return ended


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


BACKTEST_FILE = "backtest.parquet"  # in the run's "backtest" artifact folder: what `clv promote` judges on


def backtest_frame(result: TrainResult) -> pd.DataFrame:
    """The backtest customers' features at the test cutoff, their labels, and the shipped and baseline predictions:
    enough for `clv promote` to score a champion on the same customers and window."""
    bt = result.backtest
    return result.test_frame.assign(
        challenger_churn=bt["churn_probability"].to_numpy(),
        challenger_clv=bt["predicted_clv"].to_numpy(),
        baseline_churn=bt["baseline_churn"].to_numpy(),
        baseline_clv=bt["baseline_clv"].to_numpy(),
        backtest_window_days=result.test_window_days,
    )


def load_backtest_frame(client: MlflowClient, mv) -> pd.DataFrame:
    """The backtest frame logged by the run behind a model version (see :func:`backtest_frame`)."""
    with tempfile.TemporaryDirectory() as tmp:
        try:
            path = client.download_artifacts(mv.run_id, f"backtest/{BACKTEST_FILE}", tmp)
        except mlflow.exceptions.MlflowException as exc:
            raise InputError(
                f"version {mv.version}'s run {mv.run_id} has no backtest frame to judge it on (trained by an older "
                f"version of this tool?): retrain it with `clv train`, or promote with --force ({exc})"
            ) from None
        return pd.read_parquet(path)


EDGE_BYTES = 1 << 20  # per file, the digest reads the first and last MiB (plus size and mtime), not the whole file


def transactions_uri(source: str) -> str:
    """The purchase log as an absolute URI: ``file:///abs/path`` (a glob kept as written), or the URI as given."""
    if "://" in source:
        return source
    path = Path(source).expanduser().absolute()
    if any(ch in source for ch in "*?["):
        return "file://" + str(path)
    return path.as_uri()


def files_digest(source: str) -> str:
    """A digest of the purchase log's files that stays cheap on big logs: per file (a directory or glob: each, in
    order) its name, size, mtime and first and last MiB; a log elsewhere (object store) digests its URI only."""
    from features.io import resolve_files

    h = hashlib.sha256()
    try:
        files = resolve_files(source)[0] if "://" not in source else []
    except InputError:
        files = []
    if not files:
        h.update(source.encode())
    for name in files:
        stat = os.stat(name)
        h.update(f"{Path(name).absolute()}\0{stat.st_size}\0{stat.st_mtime_ns}\0".encode())
        with open(name, "rb") as fh:
            h.update(fh.read(EDGE_BYTES))
            if stat.st_size > 2 * EDGE_BYTES:
                fh.seek(-EDGE_BYTES, os.SEEK_END)
                h.update(fh.read(EDGE_BYTES))
    return h.hexdigest()[:16]


def transactions_dataset(source: str):
    """The purchase log as an MLflow dataset: its absolute URI and :func:`files_digest`, no data."""
    import warnings

    from mlflow.data.dataset_source_registry import resolve_dataset_source
    from mlflow.data.http_dataset_source import HTTPDatasetSource
    from mlflow.data.meta_dataset import MetaDataset

    uri = transactions_uri(source)
    try:
        with warnings.catch_warnings():  # "can be interpreted in multiple ways": all of them local files
            warnings.simplefilter("ignore")
            where = resolve_dataset_source(uri)
    except Exception:  # a scheme MLflow has no dataset source for
        where = HTTPDatasetSource(uri)
    return MetaDataset(where, name="transactions", digest=files_digest(source))


def _log_datasets(result: TrainResult, data, model_id: str) -> None:
    """The log, and samples of the backtest customers' features and predictions, as the run's inputs; the backtest
    metrics logged on the model against the backtest features, so the model's page shows them and their data."""
    from mlflow.entities import LoggedModelInput

    uri = data.source  # the log's dataset source (a URI string would be resolved again, with a warning)
    mlflow.log_input(data, context="training")
    sample = result.test_frame.sample(n=min(10_000, len(result.test_frame)), random_state=0)
    features = mlflow.data.from_pandas(sample, source=uri, name="backtest-features", targets="future_spend")
    mlflow.log_input(features, context="backtest", model=LoggedModelInput(model_id))
    bt = result.backtest.sample(n=min(10_000, len(result.backtest)), random_state=0)
    mlflow.log_input(mlflow.data.from_pandas(bt, source=uri, name="backtest-predictions"), context="evaluation")
    mlflow.log_metrics(mlflow_metrics(result.metrics), model_id=model_id, dataset=features, synchronous=True)


def _log_model(result: TrainResult, tmp: Path) -> str:
    bundle_path = tmp / "bundle.json"
    bundle_path.write_text(json.dumps(result.bundle.to_dict()), encoding="utf-8")
    example = result.test_frame.drop(
        columns=[
            c
            for c in result.test_frame.columns
            if c.startswith(("future_", "btyd_", "season_")) or c in ("churned", "snapshot")
        ]
    ).head(5)
    example = example.drop(columns=["horizon_days"], errors="ignore")
    output = result.bundle.predict(example)
    info = mlflow.pyfunc.log_model(
        name="model",
        python_model=str(PROJECT_ROOT / "training" / "pyfunc_model.py"),
        artifacts={"bundle": str(bundle_path)},
        code_paths=[str(PROJECT_ROOT / "models"), str(PROJECT_ROOT / "features")],
        signature=infer_signature(example, output, params={"reasons": True}),
        input_example=example,
        pip_requirements=pip_requirements(),
    )
    return info.model_id


def _register(
    client: MlflowClient, model_id: str, name: str, run_id: str, facts: dict[str, str], description: str
) -> str:
    """Register the logged model (``models:/<model_id>``) with its description and tags and move ``challenger``; if
    anything fails after the version exists, delete it again."""
    try:
        client.create_registered_model(name, description=DESCRIPTION)
    except mlflow.exceptions.MlflowException as exc:
        if exc.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
        client.update_registered_model(name, description=DESCRIPTION)
    tags = {"run_id": run_id, "model_id": model_id} | facts
    mv = client.create_model_version(
        name, f"models:/{model_id}", run_id=run_id, tags=tags, description=description, model_id=model_id
    )
    try:
        _link_version(client, model_id, name, str(mv.version))
        set_alias(client, name, defaults.CHALLENGER, mv.version)
    except BaseException:
        client.delete_model_version(name, mv.version)
        raise
    return str(mv.version)


def _link_version(client: MlflowClient, model_id: str, name: str, version_: str) -> None:
    """The logged model's list of registered versions (what ``mlflow.register_model`` records)."""
    from mlflow.utils.mlflow_tags import MLFLOW_MODEL_VERSIONS

    links = json.loads(client.get_logged_model(model_id).tags.get(MLFLOW_MODEL_VERSIONS, "[]"))
    client.set_logged_model_tags(
        model_id, {MLFLOW_MODEL_VERSIONS: json.dumps([*links, {"name": name, "version": version_}])}
    )


def record_promotion(
    client: MlflowClient, name: str, challenger, champion, verdict, promoted: bool, forced: bool
) -> None:
    """On the challenger's version: ``promotion/*`` tags, a paragraph in its description, and the comparison it was
    judged on as ``promotion/comparison.csv`` and ``.json`` in its run."""
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    against = f"champion v{champion.version} and the BTYD baseline" if champion is not None else "the BTYD baseline"
    if verdict is None:
        outcome, words = "promoted (forced, not judged)", "promoted to @champion with --force, not judged"
    elif promoted and verdict.promote:
        outcome, words = "promoted", f"promoted to @champion: {verdict.reason}"
    elif promoted:
        outcome, words = "promoted (forced)", f"promoted to @champion with --force although {verdict.reason}"
    else:
        outcome, words = "refused", f"not promoted: {verdict.reason}"
    tags = {"promotion/outcome": outcome, "promotion/date": when, "promotion/against": against}
    if verdict is not None:
        tags["promotion/reason"] = verdict.reason
        client.log_text(challenger.run_id, verdict.comparison.to_csv(index=False), "promotion/comparison.csv")
        client.log_dict(challenger.run_id, verdict.comparison.to_dict(orient="records"), "promotion/comparison.json")
    for key, value in tags.items():
        client.set_model_version_tag(name, challenger.version, key, value[:5000])
    previous = (client.get_model_version(name, challenger.version).description or "").replace(
        " Not yet judged for promotion.", ""
    )
    paragraph = f"Promotion {when}, judged against {against}: {words}."
    client.update_model_version(name, challenger.version, description=f"{previous}\n\n{paragraph}".strip())


def alias_version(client: MlflowClient, name: str, alias: str):
    """The model version behind ``alias``, or None when the model or the alias does not exist. Any other registry
    failure is an error: taking it for "no champion yet" would promote without judging."""
    try:
        return client.get_model_version_by_alias(name, alias)
    except mlflow.exceptions.MlflowException as exc:
        if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            return None
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.error_code
        raise InputError(
            f"the model registry could not say which version of {name!r} is @{alias} ({exc.error_code}: {first}); "
            "nothing was changed"
        ) from None


def load_bundle(model_uri: str):
    """The ModelBundle inside a registered pyfunc model (``models:/NAME@alias`` or any model URI)."""
    model = mlflow.pyfunc.load_model(model_uri)
    return model.unwrap_python_model().bundle, model.metadata


def pin_version(model_uri: str) -> tuple[str, str]:
    """``models:/NAME@alias`` resolved to ``models:/NAME/VERSION`` before loading, so what is recorded as the
    scoring version is the one loaded even if the alias moves meanwhile; returns (URI to load, version label).
    Other URIs are their own label."""
    if model_uri.startswith("models:/") and "@" in model_uri:
        name, alias = model_uri.removeprefix("models:/").split("@", 1)
        version = str(MlflowClient().get_model_version_by_alias(name, alias).version)
        return f"models:/{name}/{version}", version
    if model_uri.startswith("models:/") and model_uri.rsplit("/", 1)[-1].isdigit():
        return model_uri, model_uri.rsplit("/", 1)[-1]
    return model_uri, model_uri


def log_scoring(model_uri: str, version: str, as_of, metrics: dict[str, float], report: Path) -> str:
    """A scoring run beside the model's training run (same experiment): the drift numbers and the drift report,
    tagged with the model version and the scoring cutoff; returns its id."""
    client = MlflowClient()
    name = model_uri.removeprefix("models:/").split("/")[0]
    if model_uri.startswith("models:/") and version.isdigit():
        trained_in = client.get_run(client.get_model_version(name, version).run_id).info.experiment_id
    else:  # a run or logged-model URI: no registry version to sit beside
        name, trained_in = model_uri, mlflow.set_experiment(defaults.EXPERIMENT).experiment_id
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    with mlflow.start_run(experiment_id=trained_in, run_name=f"score {as_of} v{version} {stamp}") as run:
        mlflow.set_tags({"kind": "scoring", "model_name": name, "model_version": version, "as_of": str(as_of)})
        mlflow.log_metrics(metrics)
        mlflow.log_artifact(str(report))
    return run.info.run_id
