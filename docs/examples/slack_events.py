"""A plugin that forwards connection events to a Slack incoming webhook (``SLACK_WEBHOOK_URL``).

Install it with an entry point (``[project.entry-points.fluxnex] slack-events = "slack_events"``); ``fluxnex worker``
calls ``connection_event`` once per event, at least once (an event may come again after a crash: ``event.id``
tells repeats apart).
"""

from __future__ import annotations

import json
import os
import urllib.request

from fluxnex import hookimpl
from fluxnex.lifecycle.events import Event

WANTED = {"connection.expired", "connection.reconnect_soon", "connection.refresh_failed"}


@hookimpl
def connection_event(event: Event) -> None:
    if event.type not in WANTED:
        return
    text = f"{event.type}: {event.name!r} ({event.connection_type}, tenant {event.tenant_id}) is {event.status}"
    if event.error:
        text += f": {event.error}"
    request = urllib.request.Request(  # noqa: S310 - the operator's configured URL
        os.environ["SLACK_WEBHOOK_URL"],
        data=json.dumps({"text": text, "event_id": str(event.id)}).encode(),
        headers={"content-type": "application/json"},
    )
    urllib.request.urlopen(request, timeout=5).close()  # noqa: S310
