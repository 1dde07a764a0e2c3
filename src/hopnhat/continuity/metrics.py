"""Prometheus metrics of the monitor, in a registry of their own (so tests and several apps do not collide)."""

from __future__ import annotations

from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Gauge, Histogram, generate_latest, make_asgi_app

REGISTRY = CollectorRegistry()
PROBE_UP = Gauge(
    "hopnhat_probe_up", "1 when the last check of the probe passed, else 0.", ["system", "probe"], registry=REGISTRY
)
PROBE_LATENCY = Histogram(
    "hopnhat_probe_latency_seconds",
    "Latency of successful connections of a probe.",
    ["system", "probe"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    registry=REGISTRY,
)
INCIDENTS_OPEN = Gauge("hopnhat_incidents_open", "Incidents currently open.", registry=REGISTRY)


def observe(system: str, probe: str, ok: bool, latency_ms: float | None) -> None:
    PROBE_UP.labels(system, probe).set(1 if ok else 0)
    if latency_ms is not None:
        PROBE_LATENCY.labels(system, probe).observe(latency_ms / 1000)


def render() -> tuple[bytes, str]:
    """The text exposition and its content type."""
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def metrics_asgi_app() -> Any:
    """An ASGI app serving the registry; the lead mounts it at ``/metrics``."""
    return make_asgi_app(registry=REGISTRY)


__all__ = ["INCIDENTS_OPEN", "REGISTRY", "metrics_asgi_app", "observe", "render"]
