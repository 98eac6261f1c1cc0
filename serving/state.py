"""What one model generation of the service holds: the bundle from the MLflow registry (or from the BentoML model
store inside a Bento built by ``clv bento``), its registry identity and the scored snapshot. A reload builds a new
one and swaps it in whole; ``ReloadStatus`` says how the last one went."""

from __future__ import annotations

import datetime as dt
import re
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import mlflow
from mlflow import MlflowClient

from models.bundle import ModelBundle
from serving.snapshot import ScoredSnapshot

ALIAS_URI = re.compile(r"^models:/(?P<name>[^@/]+)@(?P<alias>[^/]+)$")
VERSION_URI = re.compile(r"^models:/(?P<name>[^@/]+)/(?P<version>\d+)$")
UNRECORDED = "unrecorded"
# Bento labels naming the BentoML models to serve (set by `clv bento`); the labels of the stored model carry the
# registry identity it came from.
BENTO_MODEL, BENTO_SNAPSHOT = "clv_model", "clv_snapshot"
IDENTITY_LABELS = ("model_uri", "registry_name", "registry_version", "registry_alias", "run_id")


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


@dataclass(frozen=True)
class Resolved:
    """A model URI pinned to a registry version (``uri``), with the identity it was resolved to."""

    uri: str
    name: str | None
    version: str | None
    alias: str | None
    run_id: str | None


def resolve(model_uri: str) -> Resolved:
    """An alias URI becomes the exact version it names now; other URIs stay as they are."""
    if m := ALIAS_URI.match(model_uri):
        mv = MlflowClient().get_model_version_by_alias(m["name"], m["alias"])
        version = str(mv.version)
        return Resolved(f"models:/{m['name']}/{version}", m["name"], version, m["alias"], mv.run_id)
    if m := VERSION_URI.match(model_uri):
        run_id = MlflowClient().get_model_version(m["name"], m["version"]).run_id
        return Resolved(model_uri, m["name"], m["version"], None, run_id)
    return Resolved(model_uri, None, None, None, None)


def load_state(model_uri: str, snapshot_path: str | None) -> ServingState:
    """Resolve the alias to a version first, then load that exact version (so the version reported is the one
    answering even if the alias moves meanwhile)."""
    r = resolve(model_uri)
    bundle = load_bundle(r.uri)
    snapshot = ScoredSnapshot.load(snapshot_path) if snapshot_path else None
    return ServingState(model_uri, bundle, r.name, r.version, r.alias, r.run_id, snapshot)


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


def load_bento_state(model_tag: str, snapshot_tag: str | None) -> ServingState:
    """The model and snapshot from the BentoML model store (inside a Bento): no MLflow server is contacted, and the
    registry identity reported is the one recorded when the Bento was built."""
    import bentoml

    stored = bentoml.models.get(model_tag)
    bundle = bentoml.mlflow.load_model(stored).unwrap_python_model().bundle
    labels = {k: stored.info.labels.get(k) or None for k in IDENTITY_LABELS}
    snapshot = None
    if snapshot_tag:
        folder = Path(bentoml.models.get(snapshot_tag).path)
        snapshot = ScoredSnapshot.load(next(p for p in folder.iterdir() if p.name.startswith("snapshot.")))
    return ServingState(
        labels["model_uri"] or f"bento:{stored.tag}",
        bundle,
        labels["registry_name"],
        labels["registry_version"],
        labels["registry_alias"],
        labels["run_id"],
        snapshot,
    )
