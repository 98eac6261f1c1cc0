"""What one model generation of the service holds: the bundle from the MLflow registry, its registry identity and
the scored snapshot. A reload builds a new one and swaps it in whole."""

from __future__ import annotations

import re
from dataclasses import dataclass

import mlflow
from mlflow import MlflowClient

from models.bundle import ModelBundle
from serving.snapshot import ScoredSnapshot

ALIAS_URI = re.compile(r"^models:/(?P<name>[^@/]+)@(?P<alias>[^/]+)$")
VERSION_URI = re.compile(r"^models:/(?P<name>[^@/]+)/(?P<version>\d+)$")


@dataclass(frozen=True)
class ServingState:
    model_uri: str
    bundle: ModelBundle
    name: str | None
    version: str | None
    alias: str | None
    run_id: str | None
    snapshot: ScoredSnapshot | None


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
    bundle = mlflow.pyfunc.load_model(uri).unwrap_python_model().bundle
    snapshot = ScoredSnapshot.load(snapshot_path) if snapshot_path else None
    return ServingState(model_uri, bundle, name, version, alias, run_id, snapshot)
