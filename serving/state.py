"""What one model generation of the service holds: the bundle from the MLflow registry, its registry identity and
the scored snapshot. A reload builds a new one and swaps it in whole; ``ReloadStatus`` says how the last one went."""

from __future__ import annotations

import datetime as dt
import re
import sys
import tempfile
from dataclasses import dataclass

import mlflow
from mlflow import MlflowClient

from models.bundle import ModelBundle
from serving.snapshot import ScoredSnapshot

ALIAS_URI = re.compile(r"^models:/(?P<name>[^@/]+)@(?P<alias>[^/]+)$")
VERSION_URI = re.compile(r"^models:/(?P<name>[^@/]+)/(?P<version>\d+)$")
UNRECORDED = "unrecorded"


@dataclass(frozen=True)
class ServingState:
    model_uri: str
    bundle: ModelBundle
    name: str | None
    version: str | None
    alias: str | None
    run_id: str | None
    snapshot: ScoredSnapshot | None

    @property
    def model_version(self) -> str:
        """What responses scored now name: the registry version, or the model URI when there is none."""
        return self.version or self.model_uri

    @property
    def snapshot_version(self) -> str:
        """What responses from the snapshot name: the model version that scored it (``clv score`` records it;
        ``unrecorded`` for snapshots written before it did)."""
        if self.snapshot is None:
            return self.model_version
        return self.snapshot.model_version or UNRECORDED


@dataclass
class ReloadStatus:
    """The last reload: ``idle`` (none yet), ``in_progress``, ``done`` or ``failed`` with its error."""

    state: str = "idle"
    started: dt.datetime | None = None
    finished: dt.datetime | None = None
    error: str | None = None

    def begin(self) -> None:
        self.state, self.started, self.finished, self.error = "in_progress", _now(), None, None

    def end(self, error: str | None = None) -> None:
        self.state, self.finished, self.error = ("failed" if error else "done"), _now(), error

    def as_dict(self) -> dict:
        stamp = lambda t: t.isoformat(timespec="seconds") if t else None  # noqa: E731
        return {
            "state": self.state,
            "started": stamp(self.started),
            "finished": stamp(self.finished),
            "error": self.error,
        }


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def load_state(model_uri: str, snapshot_path: str | None) -> ServingState:
    """Resolve the alias to a version first, then load that exact version (so the version reported is the one
    answering even if the alias moves meanwhile)."""
    name = version = alias = run_id = None
    uri = model_uri
    if m := ALIAS_URI.match(model_uri):
        name, alias = m["name"], m["alias"]
        mv = MlflowClient().get_model_version_by_alias(name, alias)
        version, run_id = str(mv.version), mv.run_id
        uri = f"models:/{name}/{version}"
    elif m := VERSION_URI.match(model_uri):
        name, version = m["name"], m["version"]
        run_id = MlflowClient().get_model_version(name, version).run_id
    bundle = load_bundle(uri)
    snapshot = ScoredSnapshot.load(snapshot_path) if snapshot_path else None
    return ServingState(model_uri, bundle, name, version, alias, run_id, snapshot)


def load_bundle(uri: str) -> ModelBundle:
    """The bundle of a pyfunc model, loaded from a temporary copy that is removed afterwards, with ``sys.path``
    as it was: a long-running service reloads many times and must not collect directories or path entries."""
    path_before = list(sys.path)
    with tempfile.TemporaryDirectory(prefix="clv-model-") as tmp:
        try:
            local = mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=tmp)
            return mlflow.pyfunc.load_model(local).unwrap_python_model().bundle
        finally:
            sys.path[:] = path_before
