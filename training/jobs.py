"""The training stage's jobs as the CLI runs them: read the log, train and register, judge and promote, score.
Each prints its summary on the running command's terminal."""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from clv import defaults
from clv.terminal import current
from features import ColumnMap, FeatureConfig, InputError, Policy, read_transactions
from features import console as feature_tables
from features.engine import EngineConfig, connect, write_table
from training import console as show
from training.train import TrainConfig


@dataclass(frozen=True)
class LogSource:
    """A purchase log and how to read it."""

    transactions: str
    columns: ColumnMap = field(default_factory=ColumnMap)
    policy: Policy = field(default_factory=Policy)
    engine: EngineConfig = field(default_factory=EngineConfig)

    def read(self):
        return read_transactions(self.transactions, self.columns, self.policy, con=connect(self.engine))


@dataclass(frozen=True)
class Tracking:
    """Where runs and models are recorded."""

    uri: str | None = None
    experiment: str = defaults.EXPERIMENT
    model_name: str = defaults.MODEL_NAME


def run_train(
    source: LogSource, cutoff: dt.date, config: TrainConfig, tracking_to: Tracking, report: Path | None = None
):
    """Read, train, log, register as the challenger; prints the backtest table, the run's address, the report's
    location and a one-line verdict. The run is open from before the training (its duration is the training's);
    a failure or an interrupt ends it FAILED with no version. Returns (result, run id, version)."""
    from training import tracking
    from training.frames import SnapshotStore
    from training.promote import judge
    from training.train import train as fit

    term = current()
    tracking.connect(tracking_to.uri)  # fail now, not after training, if the server is unreachable
    feature_config = FeatureConfig(columns=source.columns, policy=source.policy)
    with tracking.training_run(cutoff, config.horizon_days, tracking_to.experiment, tracking_to.uri) as run:
        with term.status("reading and validating the purchase log"):
            log = source.read()
            store = SnapshotStore(log, feature_config)  # the customer-day table, built once for every snapshot
            summary_ = store.report
        feature_tables.policy(term.out, summary_, log.source)
        started = time.monotonic()
        run.checkpoint()

        def step(*args) -> None:  # an interrupt a query swallowed stops the training at the next step
            run.checkpoint()
            progress(*args)

        with term.progress("training") as progress:
            result = fit(log, cutoff, config, feature_config, progress=step, store=store)
        run.checkpoint()
        trained_in = time.monotonic() - started
        facts = {
            "transactions": str(log.source),
            "data_range": f"{summary_.first_day} .. {summary_.last_day}",
            "rows": str(summary_.rows),
            "customers": str(summary_.customers),
            "as_of": cutoff.isoformat(),
            "backtest_cutoff": result.test_cutoff.isoformat(),
            "horizon_days": str(config.horizon_days),
            "training_seconds": f"{trained_in:.1f}",
        }
        frame = tracking.backtest_frame(result)
        champion = tracking.alias_version(run.client, tracking_to.model_name, defaults.CHAMPION)
        if champion is not None:
            try:
                frame = _with_champion(tracking_to.model_name, frame, champion)
            except InputError as exc:
                term.out.print(f"not compared with the champion: {exc}", soft_wrap=True)
                champion = None
        with term.status(f"comparing on {len(frame):,} customers (paired bootstrap)"):
            judged = judge(frame, champion is not None)
        comparison = judged.comparison
        with term.status("logging the run and registering the model in MLflow"):
            version, where, verdict = tracking.record(
                run, result, config, facts, str(log.source), tracking_to.model_name, comparison, report
            )
    show.backtest(term.out, result.metrics)
    show.choices(term.out, result.final_fit)
    term.out.print(
        f"run [bold]{run.name}[/] ({run.run_id}) logged; model [bold]{tracking_to.model_name}[/] version {version} "
        f"is now [bold]@{defaults.CHALLENGER}[/] (tracking URI {run.uri})",
        soft_wrap=True,
    )
    if run.ui_command:
        term.out.print(f"open the run: `{run.ui_command}`, then {run.url}", soft_wrap=True)
    else:
        term.out.print(f"open the run: {run.url}", soft_wrap=True)
    term.out.print(f"report: {where}", soft_wrap=True)
    term.out.print(f"verdict: {verdict}", soft_wrap=True)
    if champion is not None:
        term.out.print(
            f"against champion v{champion.version} on this backtest, `clv promote` would find it: {judged.reason}",
            soft_wrap=True,
        )
    return result, run.run_id, version


def _with_champion(name: str, frame, champion):
    """The backtest frame with the champion's churn and CLV predictions over its window (``champion_*``), as
    promote.judge compares them; InputError when the champion cannot be loaded."""
    from training import tracking

    term = current()
    window = int(frame["backtest_window_days"].iloc[0])
    with term.status(f"scoring champion v{champion.version} on the {window}-day backtest window"):
        try:
            bundle, _ = tracking.load_bundle(f"models:/{name}/{champion.version}")
            scored = dataclasses.replace(bundle, horizon_days=window).predict(frame, reasons=False)
        except Exception as exc:  # e.g. a bundle format or feature set of another code version
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise InputError(
                f"cannot score champion v{champion.version} to compare: {first}; retrain it, or promote with --force"
            ) from None
    if dt.date.fromisoformat(bundle.trained_as_of) > frame["snapshot"].iloc[0].date():  # the window's cutoff
        term.out.print(
            f"note: champion v{champion.version} was trained on data up to {bundle.trained_as_of}, inside this "
            "window: the comparison favours it",
            soft_wrap=True,
        )
    return frame.assign(
        champion_churn=scored["churn_probability"].to_numpy(), champion_clv=scored["predicted_clv"].to_numpy()
    )


def _judge(client, name: str, challenger, champion):
    """The verdict on the challenger's backtest window, and that window's length in days."""
    from training import tracking
    from training.promote import judge

    term = current()
    frame = tracking.load_backtest_frame(client, challenger)
    window = int(frame["backtest_window_days"].iloc[0])
    if champion is not None:
        frame = _with_champion(name, frame, champion)
    with term.status(f"comparing on {len(frame):,} customers (paired bootstrap)"):
        return judge(frame, champion is not None), window


def run_promote(name: str, force: bool, tracking_uri: str | None) -> bool:
    """Judge the challenger on its latest backtest window against the baseline and the champion (scored on the
    same customers over the same window length); promote when it is not worse beyond noise, or with ``force``."""
    from training import tracking

    out = current().out
    client = tracking.connect(tracking_uri)
    challenger = tracking.alias_version(client, name, defaults.CHALLENGER)
    if challenger is None:
        raise InputError(f"model {name!r} has no @{defaults.CHALLENGER} version: run `clv train` first")
    champion = tracking.alias_version(client, name, defaults.CHAMPION)
    if champion is not None and champion.version == challenger.version:
        out.print(f"version {challenger.version} is already the champion")
        return True
    try:
        verdict, window = _judge(client, name, challenger, champion)
    except InputError as exc:
        if not force:
            raise
        out.print(f"[bold yellow]not judged[/]: {exc}", soft_wrap=True)
        verdict, window = None, None
    if verdict is None:
        tracking.set_alias(client, name, defaults.CHAMPION, challenger.version)
        tracking.record_promotion(client, name, challenger, champion, None, promoted=True, forced=True)
        out.print(f"[bold green]promoted[/] version {challenger.version} to @champion (forced, not judged)")
        return True
    show.promotion(out, verdict, challenger.version, champion.version if champion else None, window)
    if verdict.promote or force:
        tracking.set_alias(client, name, defaults.CHAMPION, challenger.version)
        tracking.record_promotion(client, name, challenger, champion, verdict, promoted=True, forced=force)
        note = " (forced)" if force and not verdict.promote else ""
        out.print(
            f"[bold green]promoted[/] version {challenger.version} to @champion{note}: {verdict.reason}", soft_wrap=True
        )
        return True
    tracking.record_promotion(client, name, challenger, champion, verdict, promoted=False, forced=False)
    out.print(f"[bold yellow]not promoted[/]: {verdict.reason}; use --force to override", soft_wrap=True)
    return False


def run_score(
    source: LogSource,
    cutoff: dt.date,
    output: str,
    model: str,
    reasons: bool,
    tracking_uri: str | None,
    report: Path | None = None,
):
    """Score every customer with a purchase before ``cutoff`` and write the predictions; says in one line whether
    the features drifted since training. With ``report``, writes the drift report there and logs it with its
    numbers to MLflow as a scoring run."""
    from training import tracking
    from training.drift_report import summarize, write_drift_report
    from training.score import score as predict
    from training.score import score_on_spark

    term = current()
    with term.status("reading and validating the purchase log"):
        log = source.read()
    tracking.connect(tracking_uri)
    with term.status(f"loading {model}"):
        try:
            pinned, version = tracking.pin_version(model)
            bundle, _ = tracking.load_bundle(pinned)
        except Exception as exc:  # the registry says what is missing (unknown name, alias, version)
            raise InputError(f"cannot load model {model!r}: {str(exc).splitlines()[0]}") from None
    if source.engine.name == "spark":
        with term.status(f"scoring customers as of {cutoff} on Spark"):
            result = score_on_spark(log, cutoff, bundle, pinned, version, str(output), reasons=reasons)
        customers, where = result.customers, "a directory of part files; "
    else:
        with term.progress(f"scoring customers as of {cutoff}") as progress:
            result = predict(log, cutoff, bundle, reasons=reasons, progress=progress)
        scored = result.predictions.assign(model_version=version)  # the service names it in its responses
        write_table(pa.Table.from_pandas(scored, preserve_index=False), output)
        customers, where = len(result.predictions), ""
    term.out.print(
        f"wrote {customers:,} predictions to [bold]{output}[/] ({where}model trained as of {bundle.trained_as_of}, "
        f"horizon {bundle.horizon_days} days, version {version})",
        soft_wrap=True,
    )
    if report is None:
        show.drift(term.err, summarize(result, bundle, as_of=cutoff, model_version=version))
        return result
    try:
        summary = write_drift_report(result, bundle, report, as_of=cutoff, model_version=version)
    except OSError as exc:
        raise InputError(f"--report {report}: cannot write it: {exc.strerror or exc}") from None
    show.drift(term.err, summary)
    with term.status("logging the drift report to MLflow"):
        run_id = tracking.log_scoring(pinned, version, cutoff, summary.metrics(), report)
    term.out.print(f"drift report: [bold]{report}[/] (also in MLflow, run {run_id})", soft_wrap=True)
    return result
