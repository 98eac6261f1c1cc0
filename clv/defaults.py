"""Names and defaults used in more than one stage, defined once: the registered model, its URIs, the tracking store,
the drift threshold and the telemetry switches."""

from __future__ import annotations

import os

MODEL_NAME = "customer-value"
EXPERIMENT = "customer-value"
CHAMPION = "champion"
CHALLENGER = "challenger"
TRACKING_URI = "sqlite:///mlflow.db"
PSI_THRESHOLD = 0.25  # population stability index above which a feature is said to have drifted

# Every third-party phone-home we know of, off: the tool runs offline.
TELEMETRY_OFF = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "BENTOML_DO_NOT_TRACK": "true",
    "DO_NOT_TRACK": "true",
}


def model_uri(name: str = MODEL_NAME, alias: str = CHAMPION) -> str:
    """``models:/NAME@alias``: what scoring and serving load by default."""
    return f"models:/{name}@{alias}"


CHAMPION_URI = model_uri()


def telemetry_off() -> None:
    """Switch telemetry off for this process and its children, unless the user set the variables."""
    for name, value in TELEMETRY_OFF.items():
        os.environ.setdefault(name, value)


def tracking_uri(explicit: str | None = None) -> str:
    """``--tracking-uri``, else ``$MLFLOW_TRACKING_URI``, else the local ``TRACKING_URI``."""
    return explicit or os.environ.get("MLFLOW_TRACKING_URI") or TRACKING_URI
