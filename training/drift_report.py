"""The drift and data-quality report of a batch scoring: per feature the training and scoring distributions on the
training bins, PSI against the threshold and the share of missing values on each side; the customers new since
training and those gone; a one-line verdict for the terminal and flat metrics for MLflow.

Everything comes from what scoring kept (:class:`training.score.DriftCheck`: bin shares and counts, no frames) and
the bundle (bin edges and training shares, the set of training customers), so the report costs the same for a
thousand customers or ten million, and works from the Spark path's sample.
"""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import PercentFormatter  # noqa: E402

from features.engine import atomic_file  # noqa: E402
from models.drift import CustomerChange  # noqa: E402
from models.explain import readable  # noqa: E402
from training.score import PSI_THRESHOLD, ScoreResult, SparkScoreResult  # noqa: E402

SHOWN_IN_VERDICT = 5  # drifted features named in the verdict line; the rest are counted


@dataclass(frozen=True)
class FeatureDrift:
    """One feature: training and scoring shares on the training bins (the last bin holds the missing values)."""

    name: str
    psi: float
    edges: list[float]
    train_shares: list[float]
    score_shares: list[float]

    @property
    def missing_train(self) -> float:
        return self.train_shares[-1]

    @property
    def missing_score(self) -> float:
        return self.score_shares[-1]


@dataclass(frozen=True)
class DriftSummary:
    """The numbers of a drift report. ``features`` most drifted first; ``absent``: features of the training
    reference the scoring data did not have; ``rows`` < ``customers`` when measured on a sample (Spark)."""

    threshold: float
    features: list[FeatureDrift]
    absent: list[str]
    customers: int
    rows: int
    change: CustomerChange | None
    trained_as_of: str = ""
    as_of: str = ""
    model_version: str = ""

    @property
    def drifted(self) -> dict[str, float]:
        """Features whose PSI is over the threshold, most drifted first."""
        return {f.name: f.psi for f in self.features if f.psi > self.threshold}

    @property
    def verdict(self) -> str:
        """One line for the terminal: the drifted features and the new and vanished customers."""
        return f"{self._feature_verdict()}; {self._customer_verdict()}"

    def _feature_verdict(self) -> str:
        if not self.features:
            return "drift unknown: the model bundle has no drift reference"
        drifted = self.drifted
        over = f"{len(drifted)} of {len(self.features)} features over PSI {self.threshold:g}"
        sample = f" in a {self.rows:,}-customer sample" if self.rows < self.customers else ""
        if not drifted:
            top = self.features[0]
            return f"no drift: {over} (largest {top.name} {top.psi:.2f}){sample}"
        named = [f"{k} {v:.2f}" for k, v in list(drifted.items())[:SHOWN_IN_VERDICT]]
        if len(drifted) > SHOWN_IN_VERDICT:
            named.append(f"+{len(drifted) - SHOWN_IN_VERDICT} more")
        return f"drift: {over} ({', '.join(named)}){sample}"

    def _customer_verdict(self) -> str:
        c = self.change
        if c is None:
            return "new and vanished customers unknown (the model bundle has no set of training customers)"
        about = "~" if c.estimated else ""
        text = f"{about}{c.new:,} new and {about}{c.vanished:,} vanished customers"
        if c.estimated:
            text += f" (estimated from {_pct(c.compared)} of customers)"
        if c.new_with_history:
            text += (
                f"; {about}{c.new_with_history:,} of the new bought before the training as-of {self.trained_as_of} "
                "(ids changed, or another log?)"
            )
        return text

    def metrics(self) -> dict[str, float]:
        """Flat numbers to log (e.g. ``mlflow.log_metrics``): ``drift/psi/<feature>``, ``drift/missing/<feature>``
        (share missing when scoring), ``drift/features_drifted``, ``drift/new_customers``, ..."""
        out: dict[str, float] = {
            "drift/threshold": self.threshold,
            "drift/features_checked": len(self.features),
            "drift/features_drifted": len(self.drifted),
            "drift/features_absent": len(self.absent),
            "drift/scored_customers": self.customers,
            "drift/measured_customers": self.rows,
        }
        if self.features:
            out["drift/psi_max"] = max(f.psi for f in self.features)
        for f in self.features:
            out[f"drift/psi/{f.name}"] = f.psi
            out[f"drift/missing/{f.name}"] = f.missing_score
        if self.change is not None:
            c = self.change
            out |= {
                "drift/training_customers": c.training,
                "drift/new_customers": c.new,
                "drift/vanished_customers": c.vanished,
                "drift/new_customers_with_history": c.new_with_history,
                "drift/customers_compared_share": c.compared,
            }
        return out


def summarize(
    result: ScoreResult | SparkScoreResult, bundle, *, as_of=None, model_version=None, threshold: float = PSI_THRESHOLD
) -> DriftSummary:
    """The numbers of the report, without writing it (what the verdict line and the metrics need)."""
    check = result.check
    if check is None:
        raise ValueError("this scoring result carries no drift check (made by training.score.score / score_on_spark)")
    reference = bundle.drift_reference or {}
    psi = check.psi(reference)
    features = [
        FeatureDrift(
            name=col,
            psi=psi[col],
            edges=list(reference[col]["edges"]),
            train_shares=list(reference[col]["shares"]),
            score_shares=list(check.shares[col]),
        )
        for col in sorted(psi, key=lambda c: (-psi[c], c))
    ]
    return DriftSummary(
        threshold=float(threshold),
        features=features,
        absent=sorted(c for c in reference if c not in check.shares),
        customers=check.customers,
        rows=check.rows,
        change=check.change,
        trained_as_of=str(bundle.trained_as_of or ""),
        as_of=str(as_of or ""),
        model_version=str(model_version or ""),
    )


def write_drift_report(
    result: ScoreResult | SparkScoreResult,
    bundle,
    path: Path,
    *,
    as_of,
    model_version,
    threshold: float = PSI_THRESHOLD,
) -> DriftSummary:
    """Write the self-contained HTML report (no external URL: styles inline, plots as base64 PNG) to ``path``,
    atomically: to a temporary file beside it, renamed into place once complete; on any failure nothing is left and
    a previous file at ``path`` is untouched. Returns the numbers, with ``.verdict`` and ``.metrics()``."""
    summary = summarize(result, bundle, as_of=as_of, model_version=model_version, threshold=threshold)
    with atomic_file(path) as tmp, open(tmp, "w", encoding="utf-8") as out:
        for part in _page(summary):
            out.write(part)
    return summary


# ---------------------------------------------------------------------------------------------- rendering

STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1f2328;background:#f6f8fa}
main{max-width:1240px;margin:0 auto;padding:24px}
h1{font-size:1.5em;margin:0 0 4px} h2{font-size:1.15em;margin:28px 0 10px} h3{font-size:1.02em;margin:0}
.facts{color:#57606a;margin:0 0 16px} .facts b{color:#1f2328;font-weight:600}
.verdict{padding:12px 16px;border-radius:6px;font-weight:600;margin:0 0 8px}
.verdict.bad{background:#fff1e5;border:1px solid #f0883e} .verdict.ok{background:#e6f6ea;border:1px solid #4ac26b}
.grid{display:grid;grid-template-columns:1fr 1fr;gap:16px;align-items:start}
@media (max-width:900px){.grid{grid-template-columns:1fr}}
.card{background:#fff;border:1px solid #d0d7de;border-radius:6px;padding:12px 14px}
.card.drifted{border-color:#f0883e;box-shadow:inset 4px 0 0 #f0883e}
.head{display:flex;justify-content:space-between;align-items:baseline;gap:8px}
.sub{color:#57606a;font-size:.88em;margin:2px 0 6px}
.psi{font-variant-numeric:tabular-nums;font-weight:600;white-space:nowrap}
.over{color:#bc4c00}
table{border-collapse:collapse;width:100%;font-size:.9em}
td,th{padding:4px 8px;border-bottom:1px solid #eaeef2;text-align:right;font-variant-numeric:tabular-nums}
th:first-child,td:first-child{text-align:left}
img{width:100%;height:auto;display:block}
.note{color:#57606a;font-size:.85em}
"""


def _page(s: DriftSummary):
    """The HTML page in parts, plots rendered one at a time (a part at a time goes to the file)."""
    drifted = s.drifted
    facts = [
        ("model version", s.model_version or "?"),
        ("trained as of", s.trained_as_of or "?"),
        ("scored as of", s.as_of or "?"),
        ("PSI threshold", f"{s.threshold:g}"),
        ("customers scored", f"{s.customers:,}"),
    ]
    if s.rows < s.customers:
        facts.append(("features measured on", f"a sample of {s.rows:,} customers"))
    yield (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>Drift report: model {_e(s.model_version)} scored as of {_e(s.as_of)}</title>"
        f"<style>{STYLE}</style></head><body><main>"
        "<h1>Drift and data-quality report</h1>"
        f'<p class="facts">{" &middot; ".join(f"{_e(k)} <b>{_e(v)}</b>" for k, v in facts)}</p>'
        f'<p class="verdict {"bad" if drifted or _alarming(s.change) else "ok"}">{_e(s.verdict)}</p>'
    )
    yield '<div class="grid">'
    yield _customers_card(s)
    yield _features_card(s)
    yield "</div>"
    if s.features:
        yield (
            '<h2>Features, most drifted first</h2><p class="note">Share of customers per training decile bin '
            "([from, to): the lower edge in, the upper out; the last bin holds the missing values, NaN or infinite). "
            "PSI = &Sigma; (score &minus; train) &middot; ln(score / train) over the bins, shares floored at 0.0001; "
            f"over {s.threshold:g} counts as drift.</p>"
        )
        yield '<div class="grid">'
        for f in s.features:
            yield _feature_card(f, s.threshold)
        yield "</div>"
    yield "</main></body></html>\n"


def _customers_card(s: DriftSummary) -> str:
    c = s.change
    if c is None:
        body = (
            '<p class="note">The model bundle holds no set of training customers (trained before it was kept): '
            "retrain to see new and vanished customers.</p>"
        )
    else:
        about = "~" if c.estimated else ""
        rows = [
            ("customers at training", f"{c.training:,}", f"had a purchase before {s.trained_as_of}"),
            ("customers scored", f"{c.scored:,}", f"have a purchase before {s.as_of}"),
            ("new", f"{about}{c.new:,}", "scored, not in the training population"),
            ("vanished", f"{about}{c.vanished:,}", "in the training population, not scored"),
            (
                "new with a purchase before training",
                f"{about}{c.new_with_history:,}",
                "should be 0: the logs or the ids differ",
            ),
        ]
        body = "<table>" + "".join(
            f"<tr><td>{_e(k)}</td><td>{_e(v)}</td><td class=note>{_e(n)}</td></tr>" for k, v, n in rows
        )
        body += "</table>"
        if c.estimated:
            body += (
                f'<p class="note">Estimated from the customers of {_pct(c.compared)} of the id hash buckets, scaled '
                "up.</p>"
            )
        body += (
            '<p class="note">Customers are matched by a hash of their id kept in the model bundle; a chance match '
            "is at most 1 in 65,536 per customer.</p>"
        )
    return f'<section class="card"><h3>Customers</h3>{body}</section>'


def _features_card(s: DriftSummary) -> str:
    if not s.features:
        note = "The model bundle has no drift reference."
        return f'<section class="card"><h3>Features</h3><p class="note">{note}</p></section>'
    rows = "".join(
        f'<tr><td><a href="#f-{_e(f.name)}">{_e(f.name)}</a></td>'
        f'<td class="psi{" over" if f.psi > s.threshold else ""}">{f.psi:.3f}</td>'
        f"<td>{_pct(f.missing_train)}</td><td>{_pct(f.missing_score)}</td></tr>"
        for f in s.features
    )
    absent = (
        f'<p class="note">In the training reference but not in the scoring data: {_e(", ".join(s.absent))}</p>'
        if s.absent
        else ""
    )
    return (
        f'<section class="card"><h3>Features ({len(s.drifted)} of {len(s.features)} over PSI {s.threshold:g})</h3>'
        "<table><tr><th>feature</th><th>PSI</th><th>missing at training</th><th>missing now</th></tr>"
        f"{rows}</table>{absent}</section>"
    )


def _feature_card(f: FeatureDrift, threshold: float) -> str:
    over = f.psi > threshold
    png = base64.b64encode(_plot(f, over)).decode("ascii")
    return (
        f'<section class="card{" drifted" if over else ""}" id="f-{_e(f.name)}">'
        f'<div class="head"><h3>{_e(f.name)}</h3>'
        f'<span class="psi{" over" if over else ""}">PSI {f.psi:.3f}{" &gt; " if over else " &le; "}'
        f"{threshold:g}</span></div>"
        f'<div class="sub">{_e(readable(f.name))} &middot; missing: {_pct(f.missing_train)} at training, '
        f"{_pct(f.missing_score)} now</div>"
        f'<img alt="training and scoring shares per bin of {_e(f.name)}" src="data:image/png;base64,{png}">'
        "</section>"
    )


def _plot(f: FeatureDrift, over: bool) -> bytes:
    """Bars of the training and scoring shares per bin, side by side, as PNG bytes."""
    labels = bin_labels(f.edges)
    x = np.arange(len(labels))
    fig, ax = plt.subplots(figsize=(5.6, 2.5))
    try:
        ax.bar(x - 0.2, f.train_shares, 0.4, label="training", color="#8c959f")
        ax.bar(x + 0.2, f.score_shares, 0.4, label="scoring", color="#d1570b" if over else "#0969da")
        ax.set_xticks(x, labels, rotation=30, ha="right", fontsize=7)
        ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
        ax.tick_params(axis="y", labelsize=7)
        ax.spines[["top", "right"]].set_visible(False)
        ax.legend(fontsize=7, frameon=False, loc="lower right", bbox_to_anchor=(1, 1), ncol=2, borderaxespad=0)
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=100)
        return buf.getvalue()
    finally:
        plt.close(fig)


def bin_labels(edges: list[float]) -> list[str]:
    """Names of the bins ``models.drift`` counts in: below the first edge, [edge, next edge), from the last edge on,
    then the missing values."""
    if not edges:
        return ["all", "missing"]
    e = [_num(v) for v in edges]
    return [f"< {e[0]}", *(f"[{a}, {b})" for a, b in zip(e, e[1:], strict=False)), f"≥ {e[-1]}", "missing"]


def _num(v: float) -> str:
    if float(v).is_integer() and abs(v) < 1e9:
        return f"{int(v):,}"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:.3g}"


def _pct(share: float) -> str:
    if share and share < 0.001:
        return "<0.1%"
    return f"{share:.1%}"


def _alarming(change: CustomerChange | None) -> bool:
    return change is not None and change.new_with_history > 0


def _e(text) -> str:
    return html.escape(str(text), quote=True)
