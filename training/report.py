"""Plots and the HTML report of a training run: what a reviewer looks at in the MLflow UI.

Everything here is a pure function of the :class:`~training.train.TrainResult`, the run's facts and, optionally,
the promotion comparison (``training.promote.judge(...).comparison``); no MLflow calls. Deciles are numbered the
same way everywhere: decile 1 holds the customers with the highest prediction.
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from models.compare import LEVEL  # noqa: E402
from models.explain import readable  # noqa: E402
from models.metrics import calibration_table, decile_table  # noqa: E402
from models.segments import SEGMENTS, value_risk_segment  # noqa: E402
from training.promote import HIGHER_IS_BETTER, interval_verdict  # noqa: E402
from training.promote import point_verdict as promote_point_verdict  # noqa: E402

if TYPE_CHECKING:
    from training.train import FitReport, TrainResult

# Inputs that are the same for every customer of a snapshot (window length, the season of the window and of the
# recent past) or derived from the calendar alone (the season a customer's history saw, the adjustment by which a
# stationary forecast is scaled): they say when a customer is scored, not who the customer is.
SNAPSHOT_INPUTS = ("horizon_days", "season_")
SNAPSHOT_READABLE = {
    "horizon_days": "horizon length in days",
    "season_index": "season of the coming window",
    "season_recent": "season of the last 90 days",
    "season_observed": "season over the customer's observed days",
    "season_adjust": "season adjustment (coming window / observed)",
}

# metric -> (marker, words): which side is better. The aggregate error is compared by its size.
DIRECTIONS: dict[str, tuple[str, str]] = {
    "roc_auc": ("↑", "higher is better"),
    "pr_auc": ("↑", "higher is better"),
    "brier": ("↓", "lower is better"),
    "log_loss": ("↓", "lower is better"),
    "calibration_error": ("↓", "lower is better"),
    "gini": ("↑", "higher is better"),
    "top10_capture": ("↑", "higher is better"),
    "top20_capture": ("↑", "higher is better"),
    "rmse": ("↓", "lower is better"),
    "mae": ("↓", "lower is better"),
    "decile_mape": ("↓", "lower is better"),
    "aggregate_error": ("↓", "lower |value| is better (closer to 0)"),
    "interval_coverage": ("≈", "closer to the nominal 80 % is better"),
    "purchases_mae": ("↓", "lower is better"),
}
NOMINAL_COVERAGE = 0.8
GROUPS = {
    "Churn probability": ("roc_auc", "pr_auc", "brier", "log_loss", "calibration_error"),
    "CLV and purchases": (
        "gini", "top10_capture", "top20_capture", "rmse", "mae", "decile_mape", "aggregate_error",
        "interval_coverage", "purchases_mae",
    ),
}  # fmt: skip
LABELS = {
    "roc_auc": "ROC AUC",
    "pr_auc": "PR AUC",
    "brier": "Brier score",
    "log_loss": "log loss",
    "calibration_error": "calibration error",
    "gini": "normalized Gini",
    "top10_capture": "top-10 % spend capture",
    "top20_capture": "top-20 % spend capture",
    "rmse": "RMSE",
    "mae": "MAE",
    "decile_mape": "decile error",
    "aggregate_error": "aggregate error",
    "abs_aggregate_error": "|aggregate error|",
    "interval_coverage": "P10-P90 coverage",
    "purchases_mae": "purchases MAE",
}
HEADLINE = ("roc_auc", "brier", "gini", "top10_capture", "aggregate_error")  # the summary's metrics
COMPARED_AS = {"aggregate_error": "abs_aggregate_error"}  # metric key -> its name in the bootstrap comparison


def is_snapshot_input(feature: str) -> bool:
    """True for inputs that describe the snapshot or the calendar rather than the customer."""
    return feature.startswith(SNAPSHOT_INPUTS)


def _name(feature: str) -> str:
    return SNAPSHOT_READABLE.get(feature) or readable(feature)


# ------------------------------------------------------------------------------------------------------ plots


def _gains(ax, actual: np.ndarray, scores: dict[str, np.ndarray]) -> None:
    total = actual.sum()
    share = np.arange(1, len(actual) + 1) / len(actual)
    for name, s in scores.items():
        order = np.argsort(-s, kind="stable")
        ax.plot(share, np.cumsum(actual[order]) / total, label=name)
    ax.plot(share, np.cumsum(np.sort(actual)[::-1]) / total, ":", color="grey", label="perfect")
    ax.plot([0, 1], [0, 1], "--", color="lightgrey", label="random")
    ax.set(
        xlabel="share of customers (highest prediction first)", ylabel="share of future spend", title="Gains (backtest)"
    )
    ax.legend()


def _decile_bars(ax, actual: np.ndarray, pred: np.ndarray, title: str) -> None:
    dec = decile_table(actual, pred)
    idx = dec["decile"].to_numpy()
    ax.bar(idx - 0.2, dec["mean_actual"], 0.4, label="actual")
    ax.bar(idx + 0.2, dec["mean_predicted"], 0.4, label="predicted")
    ax.set_xticks(idx, [str(d) for d in idx])
    ax.set(xlabel="predicted CLV decile (1 = highest)", title=title)
    ax.legend()


def coverage_table(backtest: pd.DataFrame) -> pd.DataFrame:
    """Per decile of predicted CLV (1 = highest, as in :func:`models.metrics.decile_table`): customers, mean
    predicted CLV and the share whose actual spend fell inside their P10-P90 interval."""
    bt = backtest
    inside = ((bt["future_spend"] >= bt["clv_lower"]) & (bt["future_spend"] <= bt["clv_upper"])).astype(float)
    pred = bt["predicted_clv"].to_numpy()
    cov = decile_table(inside.to_numpy(), pred)  # the mean "actual" of the indicator is the share inside
    return pd.DataFrame(
        {
            "decile": cov["decile"],
            "customers": cov["customers"],
            "mean_predicted": cov["mean_predicted"],
            "coverage": cov["mean_actual"],
        }
    )


def customer_importance(result: TrainResult) -> pd.DataFrame:
    """Gain share of each customer-level feature used by the churn or CLV booster (shares of all features' gain)."""
    imp = result.importance
    total = imp[["churn_gain", "clv_gain"]].sum().clip(lower=1e-12)
    shares = imp.assign(
        churn_share=imp["churn_gain"] / total["churn_gain"], clv_share=imp["clv_gain"] / total["clv_gain"]
    )
    keep = ~shares["feature"].map(is_snapshot_input) & (shares["churn_gain"] + shares["clv_gain"] > 0)
    return shares[keep].sort_values(["churn_share", "clv_share"], ascending=False)


def plots(result: TrainResult, folder: Path) -> dict[str, Path]:
    """Write the run's PNG plots into ``folder``; returns name -> path."""
    folder.mkdir(parents=True, exist_ok=True)
    bt = result.backtest
    paths: dict[str, Path] = {}

    def save(name: str, fig) -> None:
        fig.tight_layout()
        paths[name] = folder / f"{name}.png"
        fig.savefig(paths[name], dpi=110)
        plt.close(fig)

    actual = bt["future_spend"].to_numpy()
    fig, ax = plt.subplots(figsize=(6, 5))
    _gains(ax, actual, {"shipped": bt["predicted_clv"].to_numpy(), "BTYD baseline": bt["baseline_clv"].to_numpy()})
    save("gains", fig)

    fig, ax = plt.subplots(figsize=(6, 5))
    y = bt["churned"].astype(int).to_numpy()
    for name, col in (("shipped", "churn_probability"), ("BTYD baseline", "baseline_churn")):
        cal = calibration_table(y, bt[col].to_numpy(), bins=10)
        ax.plot(cal["mean_predicted"], cal["observed_rate"], "o-", label=name)
    ax.plot([0, 1], [0, 1], "--", color="grey")
    ax.set(xlabel="predicted P(churn)", ylabel="observed churn rate", title="Calibration (backtest)")
    ax.legend()
    save("calibration", fig)

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(6.5, 7), sharey=True)
    _decile_bars(top, actual, bt["predicted_clv"].to_numpy(), "Shipped: deciles of its prediction")
    _decile_bars(bottom, actual, bt["baseline_clv"].to_numpy(), "BTYD baseline: deciles of its prediction")
    for ax in (top, bottom):
        ax.set(ylabel="mean spend over the window")
    save("deciles", fig)

    imp = customer_importance(result).head(15).iloc[::-1]
    fig, ax = plt.subplots(figsize=(7, 6))
    pos = np.arange(len(imp))
    ax.barh(pos + 0.2, imp["churn_share"], 0.4, label="churn model")
    ax.barh(pos - 0.2, imp["clv_share"], 0.4, label="CLV model")
    ax.set_yticks(pos, [readable(f) for f in imp["feature"]])
    ax.set(xlabel="share of the booster's gain", title="Customer-level drivers: importance")
    ax.legend()
    save("feature_importance", fig)

    fig, ax = plt.subplots(figsize=(7, 6))
    shap = shap_summary(result)
    shap = shap[[not is_snapshot_input(f) for f in shap.index]].head(15)
    ax.barh([readable(f) for f in shap.index[::-1]], shap.to_numpy()[::-1])
    ax.set(xlabel="mean |SHAP| (log-odds of churn)", title="Customer-level drivers of the shipped churn score")
    save("shap_summary", fig)

    fig, ax = plt.subplots(figsize=(7, 5))
    cov = coverage_table(bt)
    ax.bar(cov["decile"], cov["coverage"])
    ax.axhline(NOMINAL_COVERAGE, color="red", linestyle="--", label="nominal 80 %")
    ax.set_xticks(cov["decile"], [str(d) for d in cov["decile"]])
    ax.set(
        xlabel="predicted CLV decile (1 = highest)", ylabel="coverage", ylim=(0, 1), title="P10-P90 interval coverage"
    )
    ax.legend()
    save("interval_coverage", fig)
    return paths


def shap_summary(result: TrainResult, rows: int = 5000) -> pd.Series:
    """Mean absolute contribution per feature to the shipped churn log-odds (trees' SHAP values and the baseline's
    Shapley values) on a sample of the test customers, every feature, largest first."""
    from models.matrix import to_matrix

    bundle = result.backtest_bundle  # the bundle those customers were scored by
    test = result.test_frame.sample(n=min(rows, len(result.test_frame)), random_state=0)
    contrib = bundle.contributions(test, to_matrix(test.assign(horizon_days=bundle.horizon_days), bundle.features))
    values = np.abs(contrib[:, : len(bundle.features)]).mean(axis=0)
    return pd.Series(values, index=bundle.features).sort_values(ascending=False)


# ----------------------------------------------------------------------------------------------------- tables


def comparison_table(metrics: dict[str, float]) -> pd.DataFrame:
    """Backtest metrics side by side: what ships, BTYD baseline, lift."""
    names = sorted({k.split(".", 1)[1] for k in metrics if k.startswith("model.")})
    return pd.DataFrame(
        {
            "metric": names,
            "shipped": [metrics.get(f"model.{n}") for n in names],
            "BTYD baseline": [metrics.get(f"baseline.{n}") for n in names],
            "lift": [metrics.get(f"lift.{n}") for n in names],
        }
    )


def _finite(value) -> bool:
    return value is not None and isinstance(value, int | float | np.floating) and math.isfinite(value)


def bootstrap_verdict(row) -> str:
    """'better' / 'worse' beyond noise, 'within noise' or 'undefined' for one row of a promotion comparison."""
    verdict = interval_verdict(row)
    return "within noise" if verdict == "tie" else verdict


def _rows_against(comparison: pd.DataFrame | None, other: str) -> dict[str, object]:
    """Metric key (as in ``result.metrics``) -> its row against ``other`` ('baseline', 'champion') in the
    comparison."""
    if comparison is None or comparison.empty:
        return {}
    back = {v: k for k, v in COMPARED_AS.items()}
    rows = comparison[comparison["other"] == other]
    return {back.get(r.metric, r.metric): r for r in rows.itertuples(index=False)}


def point_verdict(metric: str, metrics: Mapping[str, float]) -> str:
    """'ahead' / 'behind' / 'level' of the baseline by the point difference alone (no interval), '' if unknown."""
    model, base = metrics.get(f"model.{metric}"), metrics.get(f"baseline.{metric}")
    if metric not in HIGHER_IS_BETTER or not (_finite(model) and _finite(base)):
        return ""
    verdict = promote_point_verdict(metric, model, base)
    return "level" if verdict == "tie" else verdict


def metric_table(metrics: Mapping[str, float], comparison: pd.DataFrame | None = None) -> pd.DataFrame:
    """Every backtest metric with its better direction, shipped and baseline values, lift and a verdict: from the
    bootstrap comparison where it has the metric ('better' / 'worse' beyond noise, 'within noise'), else the point
    difference ('ahead' / 'behind' / 'level', no interval)."""
    judged = _rows_against(comparison, "baseline")
    rows = []
    for group, names in GROUPS.items():
        for name in names:
            if f"model.{name}" not in metrics:
                continue
            marker, words = DIRECTIONS[name]
            if name in judged:
                verdict = bootstrap_verdict(judged[name])
                verdict = f"{verdict} beyond noise" if verdict in ("better", "worse") else verdict
            elif name == "interval_coverage":
                off = metrics[f"model.{name}"] - NOMINAL_COVERAGE
                verdict = f"{off * 100:+.1f} pp from nominal" if _finite(off) else ""
            else:
                verdict = point_verdict(name, metrics)
                verdict = f"{verdict} (no interval)" if verdict in ("ahead", "behind") else verdict
            rows.append(
                {
                    "group": group,
                    "metric": name,
                    "better": f"{marker} {words}",
                    "shipped": metrics.get(f"model.{name}"),
                    "baseline": metrics.get(f"baseline.{name}"),
                    "lift": metrics.get(f"lift.{name}"),
                    "verdict": verdict,
                }
            )
    return pd.DataFrame(rows)


def segment_table(result: TrainResult) -> pd.DataFrame:
    """Backtest customers per value x risk segment (as the backtest bundle segments them), with their mean
    predicted CLV and churn probability and what they actually did over the window."""
    bt = result.backtest
    bundle = result.backtest_bundle
    seg = value_risk_segment(
        bt["predicted_clv"].to_numpy(), bt["churn_probability"].to_numpy(), bundle.value_thresholds,
        bundle.segment_config,
    )  # fmt: skip
    frame = bt.assign(segment=seg, churned=bt["churned"].astype(float))
    grouped = frame.groupby("segment").agg(
        customers=("customer_id", "size"),
        mean_predicted_clv=("predicted_clv", "mean"),
        mean_actual_spend=("future_spend", "mean"),
        mean_churn_probability=("churn_probability", "mean"),
        actual_churn_rate=("churned", "mean"),
    )
    table = grouped.reindex(list(SEGMENTS))
    table["customers"] = table["customers"].fillna(0).astype(int)
    table.insert(1, "share", table["customers"] / max(len(bt), 1))
    return table.reset_index(names="segment")


def drivers(result: TrainResult, shap: pd.Series | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(customer-level, snapshot-level) inputs: churn and CLV gain shares and the mean |SHAP| on the shipped churn
    log-odds, customer-level ones by SHAP then churn gain, largest first."""
    shap = shap_summary(result) if shap is None else shap
    imp = result.importance
    total = imp[["churn_gain", "clv_gain"]].sum().clip(lower=1e-12)
    frame = pd.DataFrame(
        {
            "feature": imp["feature"].to_numpy(),
            "churn_gain_share": (imp["churn_gain"] / total["churn_gain"]).to_numpy(),
            "clv_gain_share": (imp["clv_gain"] / total["clv_gain"]).to_numpy(),
        }
    )
    frame["mean_abs_shap"] = frame["feature"].map(shap).fillna(0.0)
    frame = frame.sort_values(["mean_abs_shap", "churn_gain_share"], ascending=False, kind="stable")
    snapshot = frame["feature"].map(is_snapshot_input)
    return frame[~snapshot].reset_index(drop=True), frame[snapshot].reset_index(drop=True)


# ---------------------------------------------------------------------------------------------------- summary


def _fact(facts: Mapping[str, str], key: str) -> str | None:
    value = facts.get(key)
    return str(value) if value not in (None, "") else None


def _int(text: str | None) -> str | None:
    try:
        return f"{int(float(text)):,}" if text is not None else None
    except ValueError:
        return text


def _fmt(value, digits: int = 3) -> str:
    return f"{value:.{digits}f}" if _finite(value) else "n/a"


def _choice_words(fit: FitReport) -> str:
    """'churn: the model; CLV: a blend (weight 0.6); purchases: the BTYD baseline'."""
    if fit.baseline_only:
        return f"the BTYD baseline alone for every output ({fit.baseline_only})"
    parts = []
    for output, label in (("churn", "churn"), ("clv", "CLV"), ("purchases", "purchases")):
        w = float(fit.choices.get(output, {}).get("weight", 1.0))
        what = "the model" if w == 1.0 else "the BTYD baseline" if w == 0.0 else f"a blend (model weight {w:g})"
        parts.append(f"{label}: {what}")
    return "; ".join(parts)


def _listing(names: Iterable[str], metrics: Mapping[str, float]) -> str:
    """'ROC AUC 0.812 vs 0.790, Gini 0.61 vs 0.60' (shipped vs baseline)."""
    return ", ".join(
        f"{LABELS[n]} {_fmt(metrics.get(f'model.{n}'))} vs {_fmt(metrics.get(f'baseline.{n}'))}" for n in names
    )


def judged_sentence(rows: Mapping[str, object], other: str, subject: str = "the backtested model") -> str:
    """'On the 95 % paired bootstrap ... it is better than OTHER beyond noise on a; worse ... on b; within noise
    on c.' from comparison rows keyed by metric ('' when there are none)."""
    if not rows:
        return ""
    verdicts = {n: bootstrap_verdict(r) for n, r in rows.items()}
    words = {
        "better": f"better than {other} beyond noise on",
        "worse": f"worse than {other} beyond noise on",
        "within noise": "within noise on",
        "undefined": "undefined on",
    }
    parts = [
        f"{text} {', '.join(LABELS.get(COMPARED_AS.get(n, n), n) for n, v in verdicts.items() if v == verdict)}"
        for verdict, text in words.items()
        if verdict in verdicts.values()
    ]
    lead = f"On the {LEVEL * 100:.0f} % paired bootstrap of the backtest customers {subject} is "
    return lead + "; ".join(parts) + "."


def baseline_sentence(metrics: Mapping[str, float], fit: FitReport, comparison: pd.DataFrame | None = None) -> str:
    """Whether the backtested model beat the BTYD baseline and where not: 'better' / 'worse' only where the
    bootstrap comparison says so beyond noise; otherwise 'ahead' / 'behind' with the numbers. ``fit``: the
    backtest's FitReport."""
    judged = _rows_against(comparison, "baseline")
    weights = [float(c.get("weight", 1.0)) for c in fit.choices.values()]
    if fit.baseline_only or (weights and all(w == 0.0 for w in weights)):
        return (
            "The backtested model is the BTYD baseline for every output, so it is level with the baseline on every "
            f"metric ({_listing(('roc_auc', 'gini'), metrics)})."
        )
    sentences = [judged_sentence(judged, "the BTYD baseline")] if judged else []
    rest = [n for n in HEADLINE if n not in judged and f"model.{n}" in metrics]
    by_verdict = {v: [n for n in rest if point_verdict(n, metrics) == v] for v in ("ahead", "behind", "level")}
    if any(by_verdict.values()):
        lead = (
            "Without intervals (point differences, not verdicts), it is"
            if judged
            else "No bootstrap comparison with the baseline was given for this run, so these are point differences, "
            "not verdicts: the backtested model is"
        )
        parts = [
            f"{word} the baseline on {_listing(by_verdict[key], metrics)}"
            for key, word in (("ahead", "ahead of"), ("behind", "behind"))
            if by_verdict[key]
        ]
        if by_verdict["level"]:
            parts.append(f"level with it on {', '.join(LABELS[n] for n in by_verdict['level'])}")
        sentences.append(f"{lead} " + "; ".join(parts) + " (shipped vs baseline).")
    return " ".join(sentences)


def summary(result: TrainResult, facts: Mapping[str, str], comparison: pd.DataFrame | None = None) -> list[str]:
    """The report's opening paragraphs, in words: who, when, how much data, what ships, against the baseline."""
    m = result.metrics
    customers, rows, span = _int(_fact(facts, "customers")), _int(_fact(facts, "rows")), _fact(facts, "data_range")
    who = [f"{customers} customers" if customers else None, f"{rows} rows" if rows else None]
    who_text = " and ".join(w for w in who if w) or "The purchase log"
    span = html.escape(span.replace("..", "to")) if span else f"from {result.first_day}"
    source = _fact(facts, "transactions")
    paragraphs = [
        f"<b>Who.</b> {who_text} in the purchase log, dated {span}"
        + (f" (<code>{html.escape(source)}</code>)" if source else "")
        + "."
        + (
            f" Training used a {result.customer_share:.0%} sample of the customers."
            if result.customer_share < 1.0
            else ""
        )
    ]
    as_of = _fact(facts, "as_of") or result.bundle.trained_as_of
    horizon = _int(_fact(facts, "horizon_days")) or f"{result.bundle.horizon_days:,}"
    window = int(m.get("backtest.window_days", result.test_window_days))
    n_bt = int(m.get("backtest.customers", len(result.backtest)))
    paragraphs.append(
        f"<b>When.</b> The model scores customers as of {as_of} over the next {horizon} days. It was backtested on "
        f"the {window} days from {result.test_cutoff} to {as_of}: a model trained only on data before "
        f"{result.test_cutoff} scored the {n_bt:,} customers who had bought by then; "
        f"{m.get('backtest.churn_rate', float('nan')):.1%} of them churned (no purchase in the window) and they "
        f"spent {m.get('backtest.actual_spend', float('nan')):,.0f} in total."
    )
    fit = result.final_fit
    validation = sum(fit.validation_rows.values())
    paragraphs.append(
        f"<b>How much data.</b> The final model learned from {fit.train_rows:,} training rows (customer snapshots "
        f"at {len(fit.train_cutoffs)} cutoffs) and was validated on {validation:,} held-out customers at "
        f"{fit.validation_cutoff} (early stopping, the choice of model, baseline or blend, and the intervals). "
        f"What ships: {html.escape(_choice_words(fit))}."
        + (
            f" The backtested model (data before {result.test_cutoff}) chose: "
            f"{html.escape(_choice_words(result.backtest_fit))}; the backtest below measures those choices."
            if _choice_words(result.backtest_fit) != _choice_words(fit)
            else ""
        )
    )
    against = baseline_sentence(m, result.backtest_fit, comparison)
    paragraphs.append(f"<b>Against the BTYD baseline.</b> {html.escape(against)}")
    champion = _rows_against(comparison, "champion")
    if champion:
        against = judged_sentence(champion, "the champion", "this run's model")
        paragraphs.append(f"<b>Against the champion.</b> {html.escape(against)}")
    elif comparison is not None:
        paragraphs.append("<b>Against the champion.</b> There was no champion to compare with.")
    return paragraphs


# ------------------------------------------------------------------------------------------------------- HTML

CAPTIONS = {
    "gains": "Share of the window's spend held by the customers ranked highest by each forecast; higher and further "
    "left is better.",
    "calibration": "Observed churn rate against predicted probability in ten equal-count bins; on the diagonal is "
    "well calibrated.",
    "deciles": "Mean actual and predicted spend per decile of each forecast (decile 1 = highest prediction); "
    "bars of equal height are well calibrated, a falling staircase ranks well.",
    "interval_coverage": "Share of customers whose spend fell inside their P10-P90 interval, per decile of "
    "predicted CLV (decile 1 = highest); the nominal level is 80 %.",
    "feature_importance": "Share of the final model's churn and CLV boosters' total gain taken by customer-level "
    "features (snapshot-level inputs are listed apart below).",
    "shap_summary": "Mean absolute contribution to the shipped churn log-odds on backtest customers (trees' SHAP "
    "values plus the baseline's Shapley values), customer-level features only.",
}
PERFORMANCE_PLOTS = ("gains", "calibration", "deciles", "interval_coverage")
DRIVER_PLOTS = ("feature_importance", "shap_summary")

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;margin:0;color:#1f2328;
background:#fafafa;line-height:1.45}
main{max-width:1400px;margin:0 auto;padding:1.5em 2em}
h1{margin:.2em 0}h2{margin-top:1.6em;border-bottom:1px solid #ddd;padding-bottom:.2em}h3{margin:.4em 0}
.sub{color:#555;margin-top:0}
.summary{background:#fff;border:1px solid #ddd;border-radius:6px;padding:.6em 1.2em}
.summary p{margin:.5em 0}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(100%,520px),1fr));gap:1.2em;align-items:start}
.stack{display:grid;gap:1.2em}.narrow{max-width:800px}
.card{background:#fff;border:1px solid #ddd;border-radius:6px;padding:.8em 1em;overflow-x:auto}
figure{margin:0}figure img{width:100%;height:auto;display:block}
figcaption{color:#555;font-size:.9em;margin-top:.4em}
table{border-collapse:collapse;font-size:.9em;width:100%}
td,th{border-bottom:1px solid #e5e5e5;padding:4px 8px;text-align:right;vertical-align:top}
th{background:#f3f3f3}td.l,th.l{text-align:left}
.better{color:#1a7f37;font-weight:600}.worse{color:#cf222e;font-weight:600}
.ahead{color:#1a7f37}.behind{color:#bc4c00}.level,.noise,.undefined{color:#666}
.dir{white-space:nowrap;color:#444}.small{font-size:.85em;color:#555}
code{font-size:.9em}
@media (max-width:700px){main{padding:1em}}
"""


def _esc(value) -> str:
    return html.escape(str(value))


def _num(value, digits: int = 4) -> str:
    if not _finite(value):
        return ""
    return f"{value:,.{digits}f}"


def _verdict_class(verdict: str) -> str:
    for key, css in (("better", "better"), ("worse", "worse"), ("ahead", "ahead"), ("behind", "behind")):
        if verdict.startswith(key):
            return css
    if verdict.startswith("level"):
        return "level"
    return "noise" if verdict == "within noise" else "undefined"


def _table(head: list[tuple[str, bool]], body: list[list[str]], css: str = "") -> str:
    """An HTML table; ``head`` is (title, left aligned); cells are already escaped."""
    left = [is_left for _, is_left in head]
    ths = "".join(f'<th class="l">{_esc(t)}</th>' if lft else f"<th>{_esc(t)}</th>" for t, lft in head)
    trs = "".join(
        "<tr>"
        + "".join(f'<td class="l">{c}</td>' if lft else f"<td>{c}</td>" for c, lft in zip(r, left, strict=True))
        + "</tr>"
        for r in body
    )
    return f'<table class="{css}"><thead><tr>{ths}</tr></thead><tbody>{trs}</tbody></table>'


def _metrics_html(metrics: Mapping[str, float], comparison: pd.DataFrame | None) -> str:
    table = metric_table(metrics, comparison)
    cards = []
    head = [("metric", True), ("better", True), ("shipped", False), ("BTYD", False), ("lift", False), ("verdict", True)]
    for group in GROUPS:
        part = table[table["group"] == group] if not table.empty else table
        body = [
            [
                _esc(LABELS.get(r.metric, r.metric)) + f' <span class="small">({_esc(r.metric)})</span>',
                f'<span class="dir">{_esc(r.better)}</span>',
                _num(r.shipped),
                _num(r.baseline),
                _num(r.lift),
                f'<span class="{_verdict_class(r.verdict)}">{_esc(r.verdict)}</span>',
            ]
            for r in part.itertuples(index=False)
        ]
        cards.append(f'<div class="card"><h3>{_esc(group)}</h3>{_table(head, body, "metrics")}</div>')
    note = (
        '<p class="small">lift = shipped minus baseline (for the aggregate error: |shipped| minus |baseline|). '
        "A verdict “beyond noise” comes from the 95 % paired bootstrap of the promotion comparison; "
        "“ahead” / “behind” are point differences without an interval.</p>"
    )
    return f'<div class="stack">{"".join(cards)}</div>{note}'


def _segments_html(result: TrainResult) -> str:
    seg = segment_table(result)
    body = [
        [
            _esc(r.segment),
            f"{r.customers:,}",
            f"{r.share:.1%}",
            _num(r.mean_predicted_clv, 2),
            _num(r.mean_actual_spend, 2),
            _num(r.mean_churn_probability, 3),
            _num(r.actual_churn_rate, 3),
        ]
        for r in seg.itertuples(index=False)
    ]
    head = [
        ("segment", True), ("customers", False), ("share", False), ("mean predicted CLV", False),
        ("mean actual spend", False), ("mean P(churn)", False), ("actual churn rate", False),
    ]  # fmt: skip
    cfg = result.backtest_bundle.segment_config
    return (
        f'<div class="card">{_table(head, body, "segments")}<p class="small">{int(seg["customers"].sum()):,} '
        f"backtest customers by value tier (top {cfg.high_value_share:.0%} high, next {cfg.medium_value_share:.0%} "
        f"medium, by predicted CLV against the backtest bundle's thresholds) and risk band (watch from "
        f"P(churn) {cfg.watch_from:g}, at risk from {cfg.at_risk_from:g}); actuals are over the backtest window.</p>"
        "</div>"
    )


def _figure(name: str, path: Path) -> str:
    data = base64.b64encode(Path(path).read_bytes()).decode()
    caption = CAPTIONS.get(name, name.replace("_", " "))
    return (
        f'<div class="card"><figure><img alt="{_esc(name)}" src="data:image/png;base64,{data}"/>'
        f"<figcaption>{_esc(caption)}</figcaption></figure></div>"
    )


def _drivers_html(result: TrainResult, plot_paths: Mapping[str, Path]) -> tuple[str, str]:
    """(the customer-level drivers section, the snapshot-level inputs section)."""
    customer, snapshot = drivers(result)
    figures = "".join(_figure(n, plot_paths[n]) for n in DRIVER_PLOTS if n in plot_paths)
    head = [("feature", True), ("mean |SHAP|", False), ("churn gain share", False), ("CLV gain share", False)]

    def rows(frame: pd.DataFrame, name) -> list[list[str]]:
        return [
            [
                _esc(name(r.feature)) + f' <span class="small">({_esc(r.feature)})</span>',
                _num(r.mean_abs_shap, 4),
                f"{r.churn_gain_share:.1%}",
                f"{r.clv_gain_share:.1%}",
            ]
            for r in frame.itertuples(index=False)
        ]

    weights = {k: float(c.get("weight", 1.0)) for k, c in result.final_fit.choices.items()}
    note = (
        "<p class=\"small\">Gain shares are of the final model's boosters; mean |SHAP| is of the backtested model's "
        "shipped churn score on backtest customers. Baseline features (e.g. baseline P(alive)) restate the BTYD "
        "forecast from the customer's own history.</p>"
    )
    if result.final_fit.baseline_only or weights.get("churn") == 0.0 or weights.get("clv") == 0.0:
        note += (
            '<p class="small">Where an output ships the BTYD baseline (weight 0), its booster\'s importance shows '
            "what the booster learned, not what drives the shipped score; the SHAP summary is of the shipped churn "
            "score.</p>"
        )
    customer_section = (
        f'<section id="drivers"><h2>Customer-level drivers</h2>{note}<div class="grid">{figures}'
        f'<div class="card"><h3>Top customer-level features</h3>'
        f"{_table(head, rows(customer.head(12), readable), 'drivers')}</div></div></section>"
    )
    snapshot_section = (
        '<section id="snapshot-inputs"><h2>Snapshot-level inputs</h2><p class="small">The same for every customer '
        "of a snapshot, or set by the calendar (window length, seasons): they tell the model when a customer is "
        "scored, not who the customer is, and are kept out of the drivers above.</p>"
        f'<div class="card narrow">{_table(head, rows(snapshot, _name), "snapshot")}</div>'
        "</section>"
    )
    return customer_section, snapshot_section


def _champion_html(comparison: pd.DataFrame | None) -> str:
    intro = '<section id="champion"><h2>Champion comparison</h2>'
    if comparison is None or comparison.empty:
        return (
            intro + "<p>No champion to compare with: this report was given no promotion comparison. "
            "<code>clv promote</code> judges the challenger against the BTYD baseline and the champion, if any, on "
            "this backtest window.</p></section>"
        )
    has_champion = bool((comparison["other"] == "champion").any())
    head = [
        ("metric", True), ("against", True), ("better", True), ("challenger", False), ("other", False),
        ("diff", False), ("95 % interval", False), ("verdict", True),
    ]  # fmt: skip
    body = []
    for r in comparison.itertuples(index=False):
        verdict = bootstrap_verdict(r)
        verdict = f"{verdict} beyond noise" if verdict in ("better", "worse") else verdict
        higher = bool(r.higher_is_better)
        interval = f"[{r.lo:+.4f}, {r.hi:+.4f}]" if _finite(r.lo) and _finite(r.hi) else "undefined"
        body.append(
            [
                _esc(LABELS.get(r.metric, r.metric)),
                _esc("champion" if r.other == "champion" else "BTYD baseline" if r.other == "baseline" else r.other),
                f'<span class="dir">{"↑ higher is better" if higher else "↓ lower is better"}</span>',
                _num(r.challenger_value),
                _num(r.other_value),
                f"{r.diff:+.4f}" if _finite(r.diff) else "",
                interval,
                f'<span class="{_verdict_class(verdict)}">{_esc(verdict)}</span>',
            ]
        )
    text = (
        "<p>This run's model (the challenger) against the champion and the BTYD baseline on the same backtest "
        "customers: difference challenger minus other with its 95 % paired bootstrap interval; worse beyond noise "
        "means the whole interval lies on the worse side.</p>"
        if has_champion
        else "<p>There was no champion to compare with; the comparison holds the BTYD baseline only.</p>"
    )
    return intro + text + f'<div class="card">{_table(head, body, "champion")}</div></section>'


def html_report(
    result: TrainResult,
    plot_paths: Mapping[str, Path],
    facts: Mapping[str, str],
    path: Path,
    comparison: pd.DataFrame | None = None,
) -> Path:
    """Write one self-contained HTML page (no external resources, images inlined) and return ``path``: a summary
    in words, metric tables with the better direction and a verdict, plots in a two-column grid, segments,
    customer-level drivers, snapshot-level inputs apart, the champion comparison (``comparison``: the frame of
    ``training.promote.judge(...).comparison``; None when there is none) and the run's facts."""
    paragraphs = "".join(f"<p>{p}</p>" for p in summary(result, facts, comparison))
    performance = "".join(_figure(n, plot_paths[n]) for n in PERFORMANCE_PLOTS if n in plot_paths)
    others = "".join(
        _figure(n, p) for n, p in plot_paths.items() if n not in PERFORMANCE_PLOTS and n not in DRIVER_PLOTS
    )
    customer_section, snapshot_section = _drivers_html(result, plot_paths)
    fact_rows = [[_esc(k), _esc(v)] for k, v in facts.items()]
    title = f"Training report: as of {_esc(facts.get('as_of') or result.bundle.trained_as_of)}"
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>customer-value training report</title><style>{CSS}</style></head><body><main>
<h1>{title}</h1>
<p class="sub">Churn probability and customer lifetime value: what ships against the BTYD baseline, out of time.</p>
<section id="summary" class="summary">{paragraphs}</section>
<section id="metrics"><h2>Backtest metrics: shipped vs BTYD baseline</h2>{_metrics_html(result.metrics, comparison)}
</section>
<section id="plots"><h2>Backtest plots</h2><div class="grid">{performance}{others}</div></section>
<section id="segments"><h2>Segments on the backtest</h2>{_segments_html(result)}</section>
{customer_section}
{snapshot_section}
{_champion_html(comparison)}
<section id="facts"><h2>Run facts</h2><div class="card">{_table([("fact", True), ("value", True)], fact_rows)}</div>
</section>
</main></body></html>"""
    path.write_text(page, encoding="utf-8")
    return path
