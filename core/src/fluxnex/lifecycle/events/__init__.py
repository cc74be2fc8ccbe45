"""Connection events: the outbox, the ``connection_event`` hook and Standard Webhooks delivery.

- Every state change of a connection writes an event in the same transaction (``fluxnex.store._outbox``,
  migration 0007); nothing is sent for a change that was rolled back, nothing is lost once it committed.
- ``EventDelivery`` (run by ``fluxnex worker`` and ``RefreshWorker``) hands each event to the
  ``connection_event`` hook and delivers it, signed, to every subscribed webhook endpoint: at-least-once, the
  same ``webhook-id`` on every attempt, retried with backoff for about a day, then FAILED.
- ``Webhooks`` manages the endpoints (``fluxnex webhooks add|list|remove``).
"""

from __future__ import annotations

from fluxnex.lifecycle.events._delivery import RETRY_SCHEDULE, EventDelivery, retry_delay
from fluxnex.lifecycle.events._endpoints import Webhooks, check_events
from fluxnex.lifecycle.events._signing import headers, new_secret, sign
from fluxnex.lifecycle.events._source import EventSource, source_of
from fluxnex.storage.store._outbox import EVENT_TYPES, Event
from fluxnex.storage.store._webhooks import Endpoint

__all__ = [
    "EVENT_TYPES",
    "RETRY_SCHEDULE",
    "Endpoint",
    "Event",
    "EventDelivery",
    "EventSource",
    "Webhooks",
    "check_events",
    "headers",
    "new_secret",
    "retry_delay",
    "sign",
    "source_of",
]
