"""Prometheus metrics of the service with bounded labels: a request to a path that is no route of ours counts under
one ``endpoint="unmatched"`` label, so scanners cannot grow ``/metrics`` one series per path."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CONTENT_TYPE_LATEST as CONTENT_TYPE  # noqa: N811 - re-exported under a plain name
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

UNMATCHED = "unmatched"
SECONDS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

__all__ = ["CONTENT_TYPE", "RequestMetrics", "UNMATCHED"]


class RequestMetrics:
    """Requests, their duration and those in progress, labelled by route, method and status class."""

    def __init__(self, routes: Iterable[str], prefixes: Iterable[str] = (), namespace: str = "clv"):
        self.routes = frozenset(routes)
        self.prefixes = tuple(prefixes)  # paths under one of these count under the prefix (e.g. the docs' assets)
        self.registry = CollectorRegistry()
        labels = ["endpoint", "method", "status"]
        self.requests = Counter(
            "requests", "HTTP requests answered.", labels, namespace=namespace, registry=self.registry
        )
        self.duration = Histogram(
            "request_duration_seconds",
            "Time from the request to its answer.",
            labels,
            namespace=namespace,
            buckets=SECONDS,
            registry=self.registry,
        )
        self.in_progress = Gauge(
            "requests_in_progress", "Requests being handled.", ["endpoint"], namespace=namespace, registry=self.registry
        )

    def endpoint(self, path: str) -> str:
        """The label of a path: the route itself, or one label for everything else."""
        if path in self.routes:
            return path
        return next((p for p in self.prefixes if path.startswith(p)), UNMATCHED)

    def observe(self, endpoint: str, method: str, status: int, seconds: float) -> None:
        method = method if method in ("GET", "POST") else "other"
        self.requests.labels(endpoint, method, str(status)).inc()
        self.duration.labels(endpoint, method, str(status)).observe(seconds)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
