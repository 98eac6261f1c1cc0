"""The HTTP contract (pydantic): what marketing systems send and get back; ``/docs`` is generated from it."""

from __future__ import annotations

import datetime as dt
import math
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints, field_validator

from models.segments import SEGMENTS

MAX_IDS = 10_000
MAX_TRANSACTIONS = 100_000

CustomerId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
CustomerIds = Annotated[list[CustomerId], Field(min_length=1, max_length=MAX_IDS)]
Segment = Literal[SEGMENTS]  # a closed list: an unknown segment is a 422 naming the valid ones


class Prediction(BaseModel):
    customer_id: str
    churn_probability: float
    predicted_clv: float
    clv_lower: float
    clv_upper: float
    expected_purchases: float
    next_order_date: dt.date | None
    segment: Segment
    top_reasons: list[str]


class PredictResponse(BaseModel):
    model_version: str
    predictions: list[Prediction]
    unknown_ids: list[str] = []


class Transaction(BaseModel):
    customer_id: CustomerId
    date: dt.datetime | dt.date
    amount: float

    @field_validator("amount")
    @classmethod
    def finite(cls, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError("amount must be a finite number")
        return value


Transactions = Annotated[list[Transaction], Field(min_length=1, max_length=MAX_TRANSACTIONS)]


class Target(BaseModel):
    customer_id: str
    expected_incremental_value: float
    churn_probability: float
    predicted_clv: float
    segment: Segment


class TargetResponse(BaseModel):
    model_version: str
    contacts: int
    total_cost: float
    total_expected_incremental_value: float
    customers: list[Target]


class ModelInfo(BaseModel):
    name: str | None
    version: str | None
    alias: str | None
    run_id: str | None
    model_uri: str
    trained_as_of: str
    horizon_days: int
    snapshot: str | None
    snapshot_customers: int
    snapshot_model_version: str | None = None  # the version that scored the snapshot (/predict and /target name it)
    backtest_metrics: dict[str, float]
    last_reload: dict[str, str | None] = {}
