"""Population stability (PSI) of each feature between the training reference and a scoring population, and which
customers are new or gone since training.

Features: the reference keeps, per numeric feature, the training decile edges and the share of customers in each bin,
the last bin being the missing values (NaN or infinite). A scoring population is binned on the same edges
(:func:`bin_shares`); PSI and the missing shares follow from the two share vectors, so nothing customer-level has to
be kept to report them.

Customers: :func:`customer_set` is a compact set of the training customers (see its docstring for the choice and
its size) and :func:`compare_customers` counts the new and vanished customers of a scoring population against it.
"""

from __future__ import annotations

import base64
import hashlib
import math
import zlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.config import SAMPLE_DIGITS

EPS = 1e-4


def reference_bins(frame: pd.DataFrame, features: list[str], bins: int = 10) -> dict[str, dict]:
    """Per numeric feature: decile edges of the reference and the share of rows in each bin (NaN its own bin)."""
    out = {}
    for col in features:
        x = pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype=float)
        finite = x[np.isfinite(x)]
        if finite.size == 0:
            continue
        edges = np.unique(np.quantile(finite, np.linspace(0, 1, bins + 1)[1:-1]))
        out[col] = {"edges": edges.tolist(), "shares": _shares(x, edges).tolist()}
    return out


def _shares(x: np.ndarray, edges: np.ndarray) -> np.ndarray:
    finite = np.isfinite(x)
    counts = np.bincount(np.searchsorted(edges, x[finite], side="right"), minlength=len(edges) + 1).astype(float)
    counts = np.append(counts, (~finite).sum())
    return counts / max(len(x), 1)


def bin_shares(reference: dict[str, dict], frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """Per reference feature present in ``frame``: the share of its rows in each reference bin, the last bin being
    the missing values (NaN or infinite), as in the reference."""
    return {
        col: _shares(pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype=float), np.asarray(ref["edges"]))
        for col, ref in reference.items()
        if col in frame.columns
    }


def psi_of_shares(reference_shares, shares) -> float:
    """sum over bins of (p - q) ln(p / q), both shares floored at ``EPS`` (an empty bin would be infinite)."""
    q = np.maximum(np.asarray(reference_shares, dtype=float), EPS)
    p = np.maximum(np.asarray(shares, dtype=float), EPS)
    return float(np.sum((p - q) * np.log(p / q)))


def psi(reference: dict[str, dict], frame: pd.DataFrame) -> dict[str, float]:
    """PSI per feature: sum over bins of (p - q) ln(p / q); above 0.25 is usually read as a large shift."""
    return {col: psi_of_shares(reference[col]["shares"], p) for col, p in bin_shares(reference, frame).items()}


# ---------------------------------------------------------------------------------------------- customers

BUCKETS = 16**SAMPLE_DIGITS  # the hash buckets features.engine.sample_bucket samples customers by
MAX_SET_IDS = 2**20  # about a million: up to this many training customers the set is exact (about 3 MB of JSON)
GUARD_BITS = 16  # hash bits beyond log2(customers): a customer not in the set matches it by chance at most 1 / 65,536
SCHEME = "md5-text-64"  # the id as text, md5, first 8 bytes big-endian: sample_bucket's digest, so buckets agree


def id_hashes(ids) -> np.ndarray:
    """uint64 per id: the first 8 bytes of the md5 digest of the id as text (``123`` and ``"123"`` hash alike).
    Its first 4 hex digits are the bucket ``features.engine.sample_bucket`` samples by."""
    text = pd.Series(ids, copy=False).astype(str).tolist()
    md5 = hashlib.md5
    digests = b"".join([md5(s.encode(), usedforsecurity=False).digest() for s in text])  # 16 bytes; 8 are kept
    return np.frombuffer(digests, dtype=">u8")[::2].astype(np.uint64)


def _bucket(hashes: np.ndarray, bits: int = 64) -> np.ndarray:
    """The sample bucket (top 16 bits) of hashes kept to their top ``bits`` bits."""
    return hashes >> np.uint64(bits - 4 * SAMPLE_DIGITS)


def customer_set(ids, max_ids: int = MAX_SET_IDS) -> dict:
    """A compact, JSON-able set of the training customers, for :func:`compare_customers`.

    Why this and not counts: with only a count and the training as-of, "new" would have to mean "first purchase
    after the training as-of" and "vanished" a difference of counts; a log cut differently, or customers re-keyed,
    would go unseen, and those are exactly the data problems this check is for. So the set keeps the customers
    themselves, as hashes; the first-purchase rule is still reported beside it (new customers whose first purchase is
    before the training as-of: none in a consistent log).

    How: each id (as text) is hashed with md5, kept to its top ``log2(customers) + 16`` bits (a scored customer
    not in the set collides with it with probability at most 1 / 65,536), sorted, and stored as the gaps between
    consecutive hashes (mean about 2^16, so 4-byte integers), byte-planes shuffled and zlib-compressed, in base64:
    about 2.3 bytes per customer, 3.0 MB of JSON for a million customers (an exact list of 64-bit hashes would be
    8 MB raw, 10.7 MB in JSON). Above ``max_ids`` customers only the customers of the first hash buckets (those
    ``features.engine.sample_bucket`` samples) are kept, about ``max_ids`` of them, so the set stays ~3 MB at any
    size and the counts become estimates from a fixed, id-determined share of the customers.
    """
    h = id_hashes(ids)
    n = len(h)
    buckets = BUCKETS if n <= max_ids else max(1, int(BUCKETS * max_ids / n))
    bits = min(64, max(4 * SAMPLE_DIGITS, math.ceil(math.log2(max(n, 1))) + GUARD_BITS))
    kept = np.unique(h[_bucket(h) < buckets] >> np.uint64(64 - bits))
    gaps = np.diff(kept)
    width = 4 if not len(gaps) or int(gaps.max()) < 2**32 else 8
    planes = gaps.astype(f"<u{width}").view(np.uint8).reshape(-1, width).T.tobytes()  # zlib packs the high planes
    return {
        "scheme": SCHEME,
        "customers": n,
        "buckets": buckets,
        "bits": bits,
        "first": int(kept[0]) if len(kept) else None,
        "count": len(kept),
        "width": width,
        "gaps": base64.b64encode(zlib.compress(planes, 6)).decode("ascii"),
    }


def _decode(stored: dict) -> np.ndarray:
    """The sorted hashes (top ``bits`` bits) of a :func:`customer_set`."""
    if not stored["count"]:
        return np.zeros(0, dtype=np.uint64)
    width = stored["width"]
    planes = np.frombuffer(zlib.decompress(base64.b64decode(stored["gaps"])), dtype=np.uint8)
    gaps = planes.reshape(width, -1).T.copy().view(f"<u{width}").ravel().astype(np.uint64)
    out = np.empty(stored["count"], dtype=np.uint64)
    out[0] = stored["first"]
    out[1:] = np.uint64(stored["first"]) + np.cumsum(gaps, dtype=np.uint64)
    return out


@dataclass(frozen=True)
class CustomerChange:
    """Customers at training against customers scored. ``estimated``: the counts are scaled up from the share
    ``compared`` of the customers (whole hash buckets); otherwise they are exact up to hash collisions (at most
    1 in 65,536 per customer)."""

    training: int  # customers in the training population
    scored: int  # customers scored
    new: int  # scored, not in the training population
    vanished: int  # in the training population, not scored
    new_with_history: int  # of the new, those with a purchase before the training as-of (ids that changed?)
    estimated: bool
    compared: float  # share of the customers compared, 1.0 when every customer was


def compare_customers(
    stored: dict,
    ids,
    *,
    scored: int | None = None,
    buckets: int = BUCKETS,
    history: np.ndarray | None = None,
) -> CustomerChange:
    """New and vanished customers of the scored ``ids`` against a :func:`customer_set`.

    ``ids`` are every scored customer, or (on Spark) the ones of the first ``buckets`` hash buckets, the sample
    ``sample_bucket`` draws, with ``scored`` the number of all scored customers. Only the buckets both sides hold
    are compared; new customers are then scaled by scored / scored in those buckets, vanished ones by training /
    training in those buckets. ``history``: per id, True when its first purchase is before the training as-of.
    """
    if stored.get("scheme") != SCHEME:
        raise ValueError(f"unknown customer set scheme {stored.get('scheme')!r}; this code reads {SCHEME!r}")
    bits = stored["bits"]
    cover = min(int(stored["buckets"]), int(buckets))
    h = id_hashes(ids)
    inside = _bucket(h) < cover
    mine = h[inside] >> np.uint64(64 - bits)
    known = _decode(stored)
    known = known[_bucket(known, bits) < cover]
    at = np.searchsorted(known, mine).clip(0, max(len(known) - 1, 0))
    seen = (known[at] == mine) if len(known) else np.zeros(len(mine), dtype=bool)
    gone = len(known) - int(np.isin(known, mine).sum())
    total = len(h) if scored is None else int(scored)
    exact = cover == BUCKETS
    scale_new = 1.0 if exact else total / len(mine) if len(mine) else BUCKETS / max(cover, 1)
    scale_gone = 1.0 if exact else stored["customers"] / len(known) if len(known) else BUCKETS / max(cover, 1)
    with_history = 0 if history is None else int((~seen & np.asarray(history, dtype=bool)[inside]).sum())
    return CustomerChange(
        training=int(stored["customers"]),
        scored=total,
        new=round(int((~seen).sum()) * scale_new),
        vanished=round(gone * scale_gone),
        new_with_history=round(with_history * scale_new),
        estimated=not exact,
        compared=cover / BUCKETS,
    )
