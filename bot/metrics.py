"""Prometheus metrics (``GET /metrics``): is the bot polling, delivering, being throttled?

Under ``python -m bot`` the web and worker processes are siblings; ``PROMETHEUS_MULTIPROC_DIR``
(set by the parent) makes ``prometheus_client`` keep their samples in one place, and
``/metrics`` on the web process serves both.
"""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, multiprocess

POLL_DURATION = Histogram(
    "chatops_poll_scope_seconds", "Time to list the runs of one scope", ["provider"]
)
POLL_FAILURES = Counter(
    "chatops_poll_failures_total", "Scopes whose list call failed", ["provider"]
)
TRANSITIONS = Counter("chatops_transitions_total", "Status changes recorded", ["provider"])
DELIVERED = Counter("chatops_messages_delivered_total", "Outbox messages Slack accepted", ["kind"])
DELIVERY_ERRORS = Counter(
    "chatops_delivery_errors_total", "Slack calls that failed, by error", ["error"]
)
OUTBOX_BACKLOG = Gauge(
    "chatops_outbox_backlog", "Messages waiting to be delivered", multiprocess_mode="livemax"
)


def registry_for_scrape() -> CollectorRegistry | None:
    """The registry to serve: every sibling's samples in multiprocess mode, else the default."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return None
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return registry
