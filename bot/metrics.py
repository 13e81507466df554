"""Prometheus metrics (``GET /metrics``): is the bot polling, delivering, being throttled?"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

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
OUTBOX_BACKLOG = Gauge("chatops_outbox_backlog", "Messages waiting to be delivered")
