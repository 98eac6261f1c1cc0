"""Features stage: validated purchase logs in, leak-free point-in-time customer features and labels out."""

from features.build import build_features, features_expr
from features.config import ColumnMap, FeatureConfig, Policy, parse_horizon
from features.errors import InputError
from features.io import TransactionLog, read_transactions
from features.labels import build_labels
from features.policy import PolicyReport, policy_report
from features.snapshots import build_training_frame

__all__ = [
    "ColumnMap",
    "FeatureConfig",
    "InputError",
    "Policy",
    "PolicyReport",
    "TransactionLog",
    "build_features",
    "build_labels",
    "build_training_frame",
    "features_expr",
    "parse_horizon",
    "policy_report",
    "read_transactions",
]
