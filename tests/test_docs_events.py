"""docs/operations.md lists exactly the metrics the worker serves and states the retry schedule in force;
docs/plugin-authoring.md shows the connection_event example file verbatim (the example itself runs in
core/tests/test_webhooks_delivery.py)."""

from __future__ import annotations

import re
from pathlib import Path

from fluxnex.lifecycle.events import EVENT_TYPES, RETRY_SCHEDULE
from fluxnex.lifecycle.observability import METRIC_NAMES

ROOT = Path(__file__).resolve().parents[1]
OPERATIONS = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")


def test_every_metric_is_documented_and_nothing_else() -> None:
    section = OPERATIONS[OPERATIONS.index("## Metrics and health"):]
    documented = set(re.findall(r"^\| `(fluxnex_[a-z_]+)` \|", section, re.MULTILINE))
    assert documented == set(METRIC_NAMES)


def test_every_event_type_and_the_retry_schedule_are_documented() -> None:
    section = OPERATIONS[OPERATIONS.index("## Events and webhooks"):OPERATIONS.index("## Metrics and health")]
    documented = set(re.findall(r"`(connection\.[a-z_]+)`", section))
    assert documented == set(EVENT_TYPES)
    assert "retried after " + ", ".join(f"{d:g}" for d in RETRY_SCHEDULE) + " seconds" in " ".join(section.split())


def test_the_hook_example_is_shown_verbatim() -> None:
    doc = (ROOT / "docs" / "plugin-authoring.md").read_text(encoding="utf-8")
    example = (ROOT / "docs" / "examples" / "slack_events.py").read_text(encoding="utf-8")
    assert f"```python\n{example}```" in doc
