"""displayOptions evaluation, checked against n8n-workflow's displayParameter rules."""

from __future__ import annotations

import pytest
from fluxnex.n8n.display_options import is_shown, visible_properties


@pytest.mark.parametrize(("options", "values", "shown"), [
    (None, {}, True),
    ({}, {}, True),
    ({"show": {"a": ["x"]}}, {"a": "x"}, True),
    ({"show": {"a": ["x", "y"]}}, {"a": "y"}, True),
    ({"show": {"a": ["x"]}}, {"a": "z"}, False),
    ({"show": {"a": ["x"], "b": [True]}}, {"a": "x", "b": False}, False),
    ({"show": {"a": ["x"], "b": [True]}}, {"a": "x", "b": True}, True),
    ({"show": {"a": ["x"]}}, {}, False),
    ({"show": {"a": [1]}}, {"a": "1"}, False),
    ({"show": {"a": [1]}}, {"a": True}, False),
    ({"show": {"a": ["x"]}}, {"a": "={{ $credentials.b }}"}, True),
    ({"show": {"a": ["x"]}}, {"a": ["y", "x"]}, True),
    ({"show": {"a": ["x"]}}, {"a": []}, False),
    ({"hide": {"a": ["x"]}}, {"a": "x"}, False),
    ({"hide": {"a": ["x"], "b": ["y"]}}, {"a": "q", "b": "y"}, False),
    ({"hide": {"a": ["x"]}}, {"a": "q"}, True),
    ({"hide": {"a": ["x"]}}, {}, True),
    ({"hide": {"a": [{"_cnd": {"not": "x"}}]}}, {"a": []}, True),
    ({"show": {"a": [{"_cnd": {"eq": "x"}}]}}, {"a": "x"}, True),
    ({"show": {"a": [{"_cnd": {"not": "x"}}]}}, {}, True),
    ({"show": {"a": [{"_cnd": {"not": "x"}}]}}, {"a": []}, True),
    ({"show": {"a": [{"_cnd": {"gte": 2}}]}}, {"a": 2}, True),
    ({"show": {"a": [{"_cnd": {"gt": 2}}]}}, {"a": 2}, False),
    ({"show": {"a": [{"_cnd": {"lte": 2}}]}}, {"a": 3}, False),
    ({"show": {"a": [{"_cnd": {"lt": 2}}]}}, {"a": 1.5}, True),
    ({"show": {"a": [{"_cnd": {"between": {"from": 1, "to": 3}}}]}}, {"a": 3}, True),
    ({"show": {"a": [{"_cnd": {"between": {"from": 1, "to": 3}}}]}}, {"a": 4}, False),
    ({"show": {"a": [{"_cnd": {"startsWith": "ht"}}]}}, {"a": "http"}, True),
    ({"show": {"a": [{"_cnd": {"endsWith": "/"}}]}}, {"a": "http"}, False),
    ({"show": {"a": [{"_cnd": {"includes": "tt"}}]}}, {"a": "http"}, True),
    ({"show": {"a": [{"_cnd": {"includes": "tt"}}]}}, {"a": 5}, False),
    ({"show": {"a": [{"_cnd": {"regex": "^h.*p$"}}]}}, {"a": "http"}, True),
    ({"show": {"a": [{"_cnd": {"regex": "^x"}}]}}, {"a": "http"}, False),
    ({"show": {"a": [{"_cnd": {"exists": True}}]}}, {"a": ""}, False),
    ({"show": {"a": [{"_cnd": {"exists": True}}]}}, {"a": "v"}, True),
    ({"show": {"a": [{"_cnd": {"eq": "x"}}]}}, {"a": ["x", "y"]}, False),
    ({"show": {"@version": [0]}}, {}, True),
    ({"show": {"@version": [{"_cnd": {"gte": 2}}]}}, {}, False),
    ({"show": {"/root": ["r"]}}, {"root": "r"}, True),
    ({"show": {"a.b": ["x"]}}, {"a": {"b": "x"}}, True),
    ({"show": {"a": ["x"]}}, {"a": {"__rl": True, "value": "x", "mode": "list"}}, True),
])
def test_is_shown(options: dict | None, values: dict, shown: bool) -> None:
    assert is_shown(options, values) is shown


def test_version_is_configurable() -> None:
    assert is_shown({"show": {"@version": [{"_cnd": {"gte": 2}}]}}, {}, node_version=2)


def test_visible_properties_uses_defaults() -> None:
    props = [
        {"name": "auth", "type": "options", "default": "token"},
        {"name": "token", "displayOptions": {"show": {"auth": ["token"]}}},
        {"name": "user", "displayOptions": {"show": {"auth": ["basic"]}}},
        {"name": "secret", "displayOptions": {"hide": {"auth": ["token"]}}},
    ]
    assert [p["name"] for p in visible_properties(props, {})] == ["auth", "token"]
    assert [p["name"] for p in visible_properties(props, {"auth": "basic"})] == ["auth", "user", "secret"]
