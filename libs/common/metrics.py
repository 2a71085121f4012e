"""Prometheus metrics shared by every service (labelled by service)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

HTTP_REQUESTS = Counter(
    "sharitories_http_requests_total", "HTTP requests", ["service", "method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "sharitories_http_request_seconds", "HTTP request latency", ["service", "method", "route"]
)
EVENTS_PUBLISHED = Counter(
    "sharitories_outbox_published_total", "Outbox rows published", ["service"]
)
OUTBOX_PENDING = Gauge("sharitories_outbox_pending", "Outbox rows not yet published", ["service"])
EVENTS_CONSUMED = Counter(
    "sharitories_events_consumed_total", "Events applied by a consumer", ["consumer", "outcome"]
)
EVENTS_DEAD_LETTERED = Counter(
    "sharitories_events_dead_lettered_total", "Events sent to the dead-letter stream", ["consumer"]
)
# Read by deploy/prometheus/alerts.yaml and deploy/grafana/sharitories.json.
OUTBOX_OLDEST_PENDING = Gauge(
    "sharitories_outbox_oldest_pending_seconds",
    "Age of the oldest outbox row not yet published (0 when none)",
    ["service"],
)
CONSUMER_PENDING = Gauge(
    "sharitories_consumer_pending",
    "Events in the stream not yet delivered to the consumer, as of its last batch",
    ["consumer"],
)
READY = Gauge("sharitories_ready", "1 when the last /readyz answered ready, else 0", ["service"])
SETTLEMENTS_UNFINISHED = Gauge(
    "sharitories_settlements_unfinished",
    "Campaigns due for settlement that the last settlement pass left unsettled",
)
