"""Plots and the HTML report of a training run: what a reviewer looks at in the MLflow UI."""

from __future__ import annotations

import base64
import html
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from models.explain import readable  # noqa: E402
from models.metrics import calibration_table, decile_table  # noqa: E402


def _gains(ax, actual: np.ndarray, scores: dict[str, np.ndarray]) -> None:
    total = actual.sum()
    share = np.arange(1, len(actual) + 1) / len(actual)
    for name, s in scores.items():
        order = np.argsort(-s, kind="stable")
        ax.plot(share, np.cumsum(actual[order]) / total, label=name)
    ax.plot(share, np.cumsum(np.sort(actual)[::-1]) / total, ":", color="grey", label="perfect")
    ax.plot([0, 1], [0, 1], "--", color="lightgrey", label="random")
    ax.set(xlabel="share of customers (ranked by prediction)", ylabel="share of future spend", title="Gains")
    ax.legend()


def plots(result, folder: Path) -> dict[str, Path]:
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

    fig, ax = plt.subplots(figsize=(7, 5))
    dec = decile_table(actual, bt["predicted_clv"].to_numpy())
    base = decile_table(actual, bt["baseline_clv"].to_numpy())
    idx = np.arange(len(dec))
    ax.bar(idx - 0.27, dec["mean_actual"], 0.27, label="actual (by shipped decile)")
    ax.bar(idx, dec["mean_predicted"], 0.27, label="shipped predicted")
    ax.bar(idx + 0.27, base["mean_predicted"].to_numpy()[: len(idx)], 0.27, label="BTYD predicted")
    ax.set_xticks(idx, [str(d) for d in dec["decile"]])
    ax.set(
        xlabel="predicted decile (1 = highest)", ylabel="mean spend over horizon", title="Deciles: actual vs predicted"
    )
    ax.legend()
    save("deciles", fig)

    imp = result.importance.head(20).iloc[::-1]
    fig, ax = plt.subplots(figsize=(7, 6))
    ax.barh([readable(f) for f in imp["feature"]], imp["churn_gain"] / max(imp["churn_gain"].sum(), 1e-12))
    ax.set(xlabel="share of gain", title="Feature importance (churn model)")
    save("feature_importance", fig)

    fig, ax = plt.subplots(figsize=(7, 6))
    shap = shap_summary(result)
    ax.barh([readable(f) for f in shap.index[::-1]], shap.to_numpy()[::-1])
    ax.set(xlabel="mean |SHAP| (log-odds of churn)", title="Churn score contributions (backtest sample)")
    save("shap_summary", fig)

    fig, ax = plt.subplots(figsize=(7, 5))
    inside = (bt["future_spend"] >= bt["clv_lower"]) & (bt["future_spend"] <= bt["clv_upper"])
    decile = pd.qcut(bt["predicted_clv"].rank(method="first"), 10, labels=False)
    cov = inside.groupby(decile).mean()
    ax.bar(np.arange(len(cov)) + 1, cov.to_numpy())
    ax.axhline(0.8, color="red", linestyle="--", label="nominal 80 %")
    ax.set(
        xlabel="predicted CLV decile (1 = lowest)", ylabel="coverage", ylim=(0, 1), title="P10-P90 interval coverage"
    )
    ax.legend()
    save("interval_coverage", fig)
    return paths


def shap_summary(result, rows: int = 5000) -> pd.Series:
    """Mean absolute contribution per feature to the shipped churn log-odds (trees' SHAP values and the baseline's
    Shapley values) on a sample of the test customers."""
    from models.matrix import to_matrix

    bundle = result.backtest_bundle  # the bundle those customers were scored by
    test = result.test_frame.sample(n=min(rows, len(result.test_frame)), random_state=0)
    contrib = bundle.contributions(test, to_matrix(test.assign(horizon_days=bundle.horizon_days), bundle.features))
    values = np.abs(contrib[:, : len(bundle.features)]).mean(axis=0)
    return pd.Series(values, index=bundle.features).sort_values(ascending=False).head(15)


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


def html_report(
    result, plot_paths: dict[str, Path], facts: dict[str, str], path: Path, comparison: pd.DataFrame | None = None
) -> Path:
    """One self-contained HTML page: facts, metrics table, every plot inline; ``comparison`` (promote.judge's
    verdict.comparison on this backtest): its rows against the champion, if any, are shown."""
    table = comparison_table(result.metrics).to_html(index=False, float_format=lambda v: f"{v:.4f}", na_rep="")
    champion = comparison[comparison["other"] == "champion"] if comparison is not None else None
    if champion is not None and not champion.empty:
        table += "<h2>Against the champion (95 % paired bootstrap)</h2>" + champion.to_html(
            index=False, float_format=lambda v: f"{v:.4f}", na_rep=""
        )
    rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>" for k, v in facts.items())
    images = "".join(
        f'<figure><img src="data:image/png;base64,{base64.b64encode(p.read_bytes()).decode()}"/>'
        f"<figcaption>{html.escape(name.replace('_', ' '))}</figcaption></figure>"
        for name, p in plot_paths.items()
    )
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>customer-value training report</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1100px}} table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}} th{{text-align:left}}
figure{{display:inline-block;margin:1em}} img{{max-width:520px}}</style></head><body>
<h1>Training report</h1><table>{rows}</table>
<h2>Backtest: shipped vs BTYD baseline</h2>{table}
<h2>Plots</h2>{images}</body></html>"""
    path.write_text(page, encoding="utf-8")
    return path
