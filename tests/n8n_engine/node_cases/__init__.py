"""Cases for the node-code differential test (``test_node_auth_differential.py``).

One module per family of :mod:`fluxnex.n8n.code_auth.nodes`, each with ``CASES``: type name -> :class:`TypeCases`.
A :class:`NodeCall` says how to call the n8n node's request function (``args`` after ``this``) and which request
FluxNex is given for the same call (``method``, ``path`` relative to the type's ``base_url`` or a full URL,
``qs``, ``body``, ``form``, ``headers``); :func:`call` builds the common ``(method, resource, body, qs)`` signature.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class NodeCall:
    module: str
    function: str
    args: list[Any]
    method: str
    path: str
    qs: dict[str, Any] = field(default_factory=dict)
    body: Any = None
    #: what the node's getNodeParameter answers, by name
    params: dict[str, Any] = field(default_factory=dict)
    #: the answers to the node's successive requests (a login first, say); {} after them
    responses: list[Any] = field(default_factory=list)
    #: FluxNex's request sends ``body`` as a form (the node's ``form``), not JSON; a text ``body`` is sent as it is
    form: bool = False
    #: headers of FluxNex's request (what the caller sets; the node is given its own in ``args``)
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TypeCases:
    calls: list[NodeCall]
    #: credential sets (raw, as stored: the type's effective data is computed from each)
    credentials: list[dict[str, Any]]


def call(source: str, method: str, path: str, body: Any = None, qs: dict[str, Any] | None = None, *,
         extra: tuple[Any, ...] = (), **kwargs: Any) -> NodeCall:
    """A call of ``source`` (``module:function``) with ``(method, path, body or {}, qs or {}, *extra)``."""
    module, _, function = source.partition(":")
    args = [method, path, {} if body is None else body, dict(qs or {}), *extra]
    return NodeCall(module, function, args, method, path, dict(qs or {}), body, **kwargs)


def shapes(source: str) -> list[NodeCall]:
    """The usual request shapes for a ``(method, resource, body, qs)`` function: a GET with a query, a JSON POST,
    a DELETE."""
    return [call(source, "GET", "/items", qs={"limit": 10, "q": "a b"}),
            call(source, "POST", "/items", {"name": "n", "nested": {"x": [1, 2]}}),
            call(source, "DELETE", "/items/1")]
