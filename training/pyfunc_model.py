"""The MLflow pyfunc model, logged as code: it loads the bundle artifact and scores feature frames.

MLflow copies this file into the model and runs it at load time, so whoever loads the model (``clv score``, the
service) needs ``models`` and ``features`` (shipped with the model as code paths), never ``training``.
"""

from __future__ import annotations

import json

import mlflow
import pandas as pd
from mlflow.pyfunc import PythonModel

from models.bundle import ModelBundle


class CustomerValueModel(PythonModel):
    """Churn probability, CLV with interval, expected purchases, segment and reasons per customer."""

    def load_context(self, context) -> None:
        with open(context.artifacts["bundle"], encoding="utf-8") as fh:
            self.bundle = ModelBundle.from_dict(json.load(fh))

    def predict(self, context, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        reasons = bool((params or {}).get("reasons", True))
        return self.bundle.predict(model_input, reasons=reasons)


mlflow.models.set_model(CustomerValueModel())
