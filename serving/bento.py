"""``clv bento``: a self-contained Bento. The registry model and the scored snapshot go into the BentoML model store,
the code and the requirements pinned by ``uv.lock`` into the Bento, so ``bentoml serve TAG`` needs no MLflow."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from clv import defaults
from features import InputError
from serving.snapshot import ScoredSnapshot
from serving.state import BENTO_MODEL, BENTO_SNAPSHOT, resolve

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SERVICE = "serving.service:CustomerValueService"
PACKAGES = ("clv", "features", "models", "serving")  # what the service imports


def build_bento(model_uri: str, snapshot: Path) -> str:
    """Store the model (alias resolved to its version) and the snapshot as BentoML models, build the Bento, return
    its tag. On failure nothing stays in the stores."""
    import bentoml
    from bentoml._internal.bento.build_config import BentoEnvSchema  # what build() takes for envs

    scored_by = ScoredSnapshot.load(snapshot).model_version  # a bad snapshot is an InputError before any write
    try:
        found = resolve(model_uri)
    except Exception as exc:  # the registry says what is missing (unknown name, alias, version)
        raise InputError(f"cannot resolve model {model_uri!r}: {str(exc).strip().splitlines()[0]}") from None
    if scored_by is not None and scored_by != (found.version or model_uri):
        raise InputError(
            f"snapshot {snapshot} was scored by model version {scored_by}, but {model_uri} is version "
            f"{found.version}: re-score it with `clv score --model {found.uri}` or pick that version"
        )
    uv = _uv()
    name = _store_name(found.name or defaults.MODEL_NAME)
    identity = {
        "model_uri": model_uri,
        "registry_name": found.name or "",
        "registry_version": found.version or "",
        "registry_alias": found.alias or "",
        "run_id": found.run_id or "",
    }
    created: list = []
    with tempfile.TemporaryDirectory(prefix="clv-bento-") as tmp:  # the build context: code + requirements
        _export_requirements(uv, Path(tmp) / "requirements.txt")
        for package in PACKAGES:
            shutil.copytree(PROJECT_ROOT / package, Path(tmp) / package, ignore=shutil.ignore_patterns("__pycache__"))
        try:
            model = bentoml.mlflow.import_model(name, found.uri, labels=identity)
            created.append(model.tag)
            with bentoml.models.create(f"{name}-snapshot", labels={"source": str(snapshot.resolve())}) as snap:
                shutil.copy2(snapshot, Path(snap.path) / f"snapshot{snapshot.suffix.lower()}")
            created.append(snap.tag)
            bento = bentoml.bentos.build(
                SERVICE,
                labels={"project": defaults.MODEL_NAME, BENTO_MODEL: str(model.tag), BENTO_SNAPSHOT: str(snap.tag)}
                | {k: v for k, v in identity.items() if v},
                include=[f"{package}/**/*.py" for package in PACKAGES],
                python={"requirements_txt": "requirements.txt", "lock_packages": True},
                envs=[BentoEnvSchema(n, v) for n, v in defaults.TELEMETRY_OFF.items()],
                models=[str(model.tag), str(snap.tag)],
                build_ctx=tmp,
            )
        except BaseException:
            for tag in reversed(created):
                bentoml.models.delete(tag)
            raise
    return str(bento.tag)


def _store_name(registry_name: str) -> str:
    """A registry name as a BentoML tag name (lowercase, alphanumerics, '-', '_', '.')."""
    name = re.sub(r"[^a-z0-9._-]+", "-", registry_name.lower()).strip("-._")
    return name[:50] or defaults.MODEL_NAME


def _uv() -> list[str]:
    """The uv command that exports ``uv.lock``; a clear error without it or without the lock file."""
    if not (PROJECT_ROOT / "uv.lock").is_file():
        raise InputError(f"clv bento needs the source checkout with uv.lock; none at {PROJECT_ROOT}")
    if found := shutil.which("uv"):
        return [found]
    probe = subprocess.run([sys.executable, "-m", "uv", "--version"], capture_output=True)
    if probe.returncode == 0:
        return [sys.executable, "-m", "uv"]
    raise InputError("clv bento needs uv to export the locked requirements: pip install uv")


def _export_requirements(uv: list[str], target: Path) -> None:
    """The project's runtime requirements, pinned as in ``uv.lock`` (no dev extras, not the project itself)."""
    cmd = [*uv, "export", "--frozen", "--no-dev", "--no-hashes", "--no-emit-project", "--output-file", str(target)]
    done = subprocess.run(cmd, cwd=PROJECT_ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise InputError(f"`{' '.join(cmd[len(uv) :])}` failed: {done.stderr.strip()[-2000:]}")
