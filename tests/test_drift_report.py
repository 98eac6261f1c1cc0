"""The drift and data-quality report of a batch scoring, on tiny hand-made frames: PSI and missing shares by hand,
new and vanished customers, the verdict line, metrics, an atomic self-contained HTML file."""

from __future__ import annotations

import hashlib
import json
import math
import re

import numpy as np
import pandas as pd
import pytest

from models.btyd import BGNBDParams, BTYDBaseline
from models.bundle import ModelBundle
from models.churn import ChurnModel
from models.clv import BaselineCorrectedRegressor, IntervalBands
from models.drift import BUCKETS, EPS, compare_customers, customer_set, id_hashes, psi, reference_bins
from training import drift_report
from training.drift_report import bin_labels, summarize, write_drift_report
from training.score import PSI_THRESHOLD, ScoreResult, SparkScoreResult, drift_check, drifted

TRAINED = "2024-07-01"

# x: edges 10 and 20, training shares 50 % / 25 % / 25 % and nothing missing.
# age: one edge at 1, half below, half from it on (named to sort before x: the report sorts by PSI, not name).
REFERENCE = {
    "x": {"edges": [10.0, 20.0], "shares": [0.5, 0.25, 0.25, 0.0]},
    "age": {"edges": [1.0], "shares": [0.5, 0.5, 0.0]},
}


def bundle(reference=REFERENCE, training_ids=("A", "B", "C", "D"), customers: bool = True) -> ModelBundle:
    """A baseline-only bundle with the given drift reference and training customers, through JSON as shipped."""
    baseline = BTYDBaseline()
    baseline.bgnbd_ = BGNBDParams(r=1.0, alpha=10.0, a=1.0, b=1.0)
    baseline.gg_ = None
    b = ModelBundle(
        horizon_days=91,
        trained_as_of=TRAINED,
        features=list(reference),
        baseline=baseline,
        churn=ChurnModel(),
        clv=BaselineCorrectedRegressor(),
        purchases=BaselineCorrectedRegressor(objective="poisson"),
        intervals=IntervalBands(lower=[0.0], upper=[1.0]),
        value_thresholds=(0.0, 0.0),
        drift_reference=reference,
        training_customers=customer_set(list(training_ids)) if customers else {},
    )
    return ModelBundle.from_dict(json.loads(json.dumps(b.to_dict())))


def features(ids, x, age, first=None) -> pd.DataFrame:
    first = first or ["2024-01-01"] * len(ids)
    return pd.DataFrame({"customer_id": ids, "x": x, "age": age, "first_purchase": pd.to_datetime(first)})


def scored(b: ModelBundle, feats: pd.DataFrame) -> ScoreResult:
    check = drift_check(b, feats)
    return ScoreResult(predictions=pd.DataFrame(), drift=check.psi(b.drift_reference), check=check)


def hand_psi(p, q) -> float:
    return sum((max(a, EPS) - max(b, EPS)) * math.log(max(a, EPS) / max(b, EPS)) for a, b in zip(p, q, strict=True))


# Scoring x = 5, 15, 15, 25, NaN: shares 1/5, 2/5, 1/5 and 1/5 missing. age = 0, 0, 1, 1, 1: 2/5 below 1, 3/5 from it.
DRIFTED = features(["C", "D", "E", "F", "G"], [5, 15, 15, 25, np.nan], [0, 0, 1, 1, 1])
PSI_X = hand_psi([0.2, 0.4, 0.2, 0.2], [0.5, 0.25, 0.25, 0.0])
PSI_AGE = hand_psi([0.4, 0.6, 0.0], [0.5, 0.5, 0.0])


def test_psi_in_the_report_is_the_one_computed_by_hand(tmp_path):
    by_hand = (
        (0.2 - 0.5) * math.log(0.2 / 0.5)
        + (0.4 - 0.25) * math.log(0.4 / 0.25)
        + (0.2 - 0.25) * math.log(0.2 / 0.25)
        + (0.2 - EPS) * math.log(0.2 / EPS)  # the empty missing bin of training, floored
    )
    assert by_hand == pytest.approx(PSI_X, rel=1e-12)
    assert psi(REFERENCE, DRIFTED) == pytest.approx({"x": PSI_X, "age": PSI_AGE}, rel=1e-12)
    b = bundle()
    result = scored(b, DRIFTED)
    assert result.drift == pytest.approx({"x": PSI_X, "age": PSI_AGE}, rel=1e-12)
    path = tmp_path / "drift.html"
    summary = write_drift_report(result, b, path, as_of="2025-01-01", model_version="7")
    assert [f.name for f in summary.features] == ["x", "age"]  # most drifted first
    assert [f.psi for f in summary.features] == pytest.approx([PSI_X, PSI_AGE], rel=1e-12)
    assert summary.features[0].score_shares == pytest.approx([0.2, 0.4, 0.2, 0.2])
    assert summary.features[0].train_shares == [0.5, 0.25, 0.25, 0.0]
    assert summary.metrics()["drift/psi/x"] == pytest.approx(PSI_X, rel=1e-12)
    assert summary.metrics()["drift/psi_max"] == pytest.approx(PSI_X, rel=1e-12)
    page = path.read_text(encoding="utf-8")
    assert f"PSI {PSI_X:.3f} &gt; 0.25" in page and f"PSI {PSI_AGE:.3f} &le; 0.25" in page
    assert page.index('id="f-x"') < page.index('id="f-age"')  # cards sorted by PSI, descending
    for fact in ("model version <b>7</b>", f"trained as of <b>{TRAINED}</b>", "scored as of <b>2025-01-01</b>"):
        assert fact in page
    assert "PSI threshold <b>0.25</b>" in page


def test_missing_shares_by_hand(tmp_path):
    train = pd.DataFrame({"z": [1, 2, np.nan, 4, np.nan, 6, 7, 8]})  # 2 of 8 missing
    reference = reference_bins(train, ["z"], bins=4)
    assert reference["z"]["shares"][-1] == 0.25
    b = bundle(reference)
    now = pd.DataFrame({"customer_id": list("ABCDE"), "z": [1, np.nan, np.inf, np.nan, 5]})  # 3 of 5 missing
    summary = write_drift_report(scored(b, now), b, tmp_path / "r.html", as_of="2025-01-01", model_version="1")
    (z,) = summary.features
    assert (z.missing_train, z.missing_score) == (0.25, pytest.approx(0.6))
    assert summary.metrics()["drift/missing/z"] == pytest.approx(0.6)
    assert "missing: 25.0% at training, 60.0% now" in (tmp_path / "r.html").read_text(encoding="utf-8")


def test_new_and_vanished_customers_on_a_hand_made_case():
    # Training: A, B, C, D and 17 (an integer id). Scored: C, D, "17" (the same customer as text), E and F. E's first
    # purchase is before the training as-of: in a consistent log it would have been a training customer.
    b = bundle(training_ids=["A", "B", "C", "D", 17])
    feats = features(
        ["C", "D", "17", "E", "F"],
        [1, 2, 3, 4, 5],
        [0, 1, 0, 1, 0],
        first=["2024-01-01", "2024-02-01", "2024-03-01", "2024-06-30", "2024-07-01"],
    )
    change = drift_check(b, feats).change
    assert (change.training, change.scored, change.new, change.vanished) == (5, 5, 2, 2)
    assert change.new_with_history == 1 and not change.estimated and change.compared == 1.0
    # The same customers scored again: nobody new, nobody gone.
    same = compare_customers(customer_set(["A", "B", "C", "D", 17]), ["17", "D", "C", "B", "A"])
    assert (same.new, same.vanished) == (0, 0)


def test_the_customer_set_is_exact_and_compact_for_many_customers():
    ids = [f"cust-{i:07d}" for i in range(200_000)]
    stored = json.loads(json.dumps(customer_set(ids)))
    assert len(json.dumps(stored)) < 3.5 * len(ids)  # bytes of JSON per customer (raw 64-bit hashes: ~10.7)
    later = ids[1000:] + [f"new-{i}" for i in range(500)]
    change = compare_customers(stored, later)
    assert (change.training, change.new, change.vanished, change.estimated) == (200_000, 500, 1000, False)


def md5_bucket(customer) -> int:
    return int(hashlib.md5(str(customer).encode()).hexdigest()[:4], 16)


def test_a_spark_sample_estimates_new_and_vanished_from_its_hash_buckets(tmp_path):
    training = [f"c{i}" for i in range(2000)]
    now = [f"c{i}" for i in range(100, 2200)]  # 2,100 scored: 100 vanished, 200 new
    b = bundle(training_ids=training)
    half = BUCKETS // 2
    sample = [c for c in now if md5_bucket(c) < half]  # what sample_bucket(ids, 0.5) draws
    feats = features(sample, [15] * len(sample), [0] * len(sample), first=["2024-08-01"] * len(sample))
    check = drift_check(b, feats, customers=len(now), buckets=half)
    # By hand: counts in the sampled buckets, scaled by scored / sampled and training / training in those buckets.
    new_in = sum(c not in set(training) for c in sample)
    train_in = [c for c in training if md5_bucket(c) < half]
    gone_in = sum(c not in set(now) for c in train_in)
    change = check.change
    assert change.estimated and change.compared == 0.5 and change.scored == 2100
    assert change.new == round(new_in * len(now) / len(sample))
    assert change.vanished == round(gone_in * len(training) / len(train_in))
    assert change.new_with_history == 0  # first purchases after the training as-of
    assert abs(change.new - 200) < 60 and abs(change.vanished - 100) < 40
    result = SparkScoreResult(customers=len(now), drift=check.psi(b.drift_reference), output="out", check=check)
    summary = write_drift_report(result, b, tmp_path / "s.html", as_of="2025-01-01", model_version="3")
    assert f") in a {len(sample):,}-customer sample; ~" in summary.verdict
    assert f"~{change.new:,} new and ~{change.vanished:,} vanished customers (estimated from 50.0% of customers)" in (
        summary.verdict
    )
    assert summary.metrics()["drift/measured_customers"] == len(sample)


def test_verdict_line_for_a_drifted_and_a_stable_population():
    b = bundle()
    s = summarize(scored(b, DRIFTED), b, as_of="2025-01-01", model_version="7")
    assert s.drifted == pytest.approx({"x": PSI_X})
    assert s.verdict == (
        f"drift: 1 of 2 features over PSI 0.25 (x {PSI_X:.2f}); 3 new and 2 vanished customers; 3 of the new bought "
        f"before the training as-of {TRAINED} (ids changed, or another log?)"
    )
    m = s.metrics()
    assert (m["drift/features_drifted"], m["drift/new_customers"], m["drift/vanished_customers"]) == (1, 3, 2)
    assert m["drift/threshold"] == PSI_THRESHOLD
    # The training population itself: x 5, 5, 15, 25 and age 0, 0, 2, 2 (the reference shares), the same customers.
    stable = features(["A", "B", "C", "D"], [5, 5, 15, 25], [0, 0, 2, 2])
    s = summarize(scored(b, stable), b, as_of="2025-01-01", model_version="7")
    assert s.verdict == ("no drift: 0 of 2 features over PSI 0.25 (largest age 0.00); 0 new and 0 vanished customers")
    # The threshold is the caller's: over 5, nothing drifted.
    s = summarize(scored(b, DRIFTED), b, as_of="2025-01-01", model_version="7", threshold=5)
    assert s.verdict.startswith("no drift: 0 of 2 features over PSI 5 (largest x")
    # A bundle trained before customer sets were kept still loads, and says it cannot tell.
    old = bundle().to_dict()
    del old["training_customers"]
    old_bundle = ModelBundle.from_dict(old)
    assert old_bundle.training_customers == {}
    s = summarize(scored(old_bundle, DRIFTED), old_bundle, as_of="2025-01-01", model_version="7")
    assert s.verdict.endswith(
        "; new and vanished customers unknown (the model bundle has no set of training customers)"
    )
    assert "drift/new_customers" not in s.metrics()


def test_the_one_threshold_decides_what_drifted():
    assert drifted({"a": 0.26, "b": 0.25, "c": 0.5}) == {"c": 0.5, "a": 0.26}
    assert drifted({"a": 0.26}, threshold=0.3) == {}
    from io import StringIO

    from rich.console import Console

    from training import console

    b = bundle()
    stable = features(["A", "B", "C", "D"], [5, 5, 15, 25], [0, 0, 2, 2])
    for result, opening in ((scored(b, DRIFTED), "warning: drift:"), (scored(b, stable), "no drift:")):
        out = Console(file=StringIO(), width=300)
        console.drift(out, summarize(result, b))
        line = out.file.getvalue()
        assert line.startswith(opening) and f"over PSI {PSI_THRESHOLD:g}" in line, line


def test_a_failed_write_leaves_no_file_and_keeps_the_previous_one(tmp_path, monkeypatch):
    b = bundle()
    result = scored(b, DRIFTED)
    plot = drift_report._plot
    calls = []

    def second_plot_fails(*args):
        calls.append(1)
        if len(calls) == 2:  # the first feature card is already written out by then
            raise OSError("disk full")
        return plot(*args)

    monkeypatch.setattr(drift_report, "_plot", second_plot_fails)
    path = tmp_path / "drift.html"
    with pytest.raises(OSError, match="disk full"):
        write_drift_report(result, b, path, as_of="2025-01-01", model_version="7")
    assert list(tmp_path.iterdir()) == []  # no report, no temporary file
    path.write_text("previous report", encoding="utf-8")
    calls.clear()
    with pytest.raises(OSError, match="disk full"):
        write_drift_report(result, b, path, as_of="2025-01-01", model_version="7")
    assert path.read_text(encoding="utf-8") == "previous report"
    assert list(tmp_path.iterdir()) == [path]
    monkeypatch.setattr(drift_report, "_plot", plot)
    write_drift_report(result, b, path, as_of="2025-01-01", model_version="7")
    assert path.read_text(encoding="utf-8").startswith("<!doctype html>") and list(tmp_path.iterdir()) == [path]


def test_the_html_is_self_contained(tmp_path):
    b = bundle()
    path = tmp_path / "drift.html"
    write_drift_report(scored(b, DRIFTED), b, path, as_of="2025-01-01", model_version="7")
    page = path.read_text(encoding="utf-8")
    text = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", page)  # base64 has slashes of its own
    for external in ("http:", "https:", "//", "<script", "<link", "<iframe", "url(", "@import"):
        assert external not in text
    sources = re.findall(r'src="([^"]*)"', page)
    assert len(sources) == 2 and all(s.startswith("data:image/png;base64,") for s in sources)
    assert all(h.startswith("#") for h in re.findall(r'href="([^"]*)"', page))
    assert 'class="grid"' in page and "grid-template-columns:1fr 1fr" in page  # two columns


def test_bin_labels_name_the_bins_drift_counts_in():
    assert bin_labels([10.0, 20.0]) == ["< 10", "[10, 20)", "≥ 20", "missing"]
    assert bin_labels([0.5, 1234.4]) == ["< 0.5", "[0.5, 1,234)", "≥ 1,234", "missing"]


@pytest.mark.parametrize("ids", [[f"c{i}" for i in range(3000)], list(range(10_000, 13_000))])
def test_the_customer_hashes_pick_the_buckets_sample_bucket_draws(ids):
    # The Spark path compares only the buckets its drift sample holds: they must be the ones the engine drew.
    import ibis

    from features.engine import sample_bucket

    table = ibis.memtable(pd.DataFrame({"customer_id": ids}))
    drawn = set(table.filter(sample_bucket(table.customer_id, 0.3)).to_pandas()["customer_id"])
    bound = round(0.3 * BUCKETS)
    assert drawn == {c for c, h in zip(ids, id_hashes(ids), strict=True) if int(h) >> 48 < bound}
    assert 0.25 < len(drawn) / len(ids) < 0.35
