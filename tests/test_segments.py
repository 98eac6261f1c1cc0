"""RFM scores and the segment rule table."""

from __future__ import annotations

import pandas as pd

from features import build_features
from features.rfm import SEGMENT_RULES, segment_of
from tests.conftest import log


def test_rule_table_names_every_cell_exactly_once():
    for r in range(1, 6):
        for f in range(1, 6):
            matches = [name for name, rr, ff in SEGMENT_RULES if r in rr and f in ff]
            assert len(matches) == 1, (r, f, matches)


def test_some_cells_by_hand():
    assert segment_of(5, 5) == "Champions"
    assert segment_of(5, 1) == "New"
    assert segment_of(1, 5) == "Can't lose"
    assert segment_of(1, 1) == "Lost"
    assert segment_of(2, 4) == "At risk"


def test_scores_are_quintiles_with_ties_sharing_the_lower_score():
    # Ten customers; customer k buys k times on consecutive days ending k days before the cutoff.
    rows = []
    for k in range(1, 11):
        last = pd.Timestamp("2024-06-01") - pd.Timedelta(days=k)
        rows += [(f"c{k:02d}", (last - pd.Timedelta(days=j)).strftime("%Y-%m-%d"), 10.0) for j in range(k)]
    rows.append(("c11", "2024-05-31", 10.0))  # ties c01 on recency and frequency
    feats = build_features(log(rows), "2024-06-01").set_index("customer_id")
    # frequency ranks: c01 and c11 tie lowest (percent rank 0 -> 1); c10 highest (rank 1.0 -> 5)
    assert feats.loc["c01", "f_score"] == feats.loc["c11", "f_score"] == 1
    assert feats.loc["c10", "f_score"] == 5
    # recency: c01 and c11 bought yesterday -> tie at the top, percent rank 9/10 -> 5; c10 longest ago -> 1
    assert feats.loc["c01", "r_score"] == feats.loc["c11", "r_score"] == 5
    assert feats.loc["c10", "r_score"] == 1
    # c05: 5 days since last; 5 customers are further away -> percent rank 5/10 -> 1 + floor(2.5) = 3
    assert feats.loc["c05", "r_score"] == 3
    for cid, row in feats.iterrows():
        assert row.rfm_segment == segment_of(row.r_score, row.f_score), cid
