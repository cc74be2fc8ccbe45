"""FluxNex connection data in the form ``n8n import:credentials`` reads: the importer's mapping, backwards.

``fluxnex.n8n.importer`` keeps n8n's data as it is (``oauthTokenData`` with its ``callbackQueryString``, where
QuickBooks' ``realmId`` lives, the domain allow-lists) and marks every value beginning with ``=`` as an
expression. ``n8n_data`` undoes the one mapping: the marks list (``$expressions``) goes and marked values stay as
they are (in n8n every ``=`` value is an expression). A *literal* value that begins with ``=`` (a FluxNex password
``=MyPa55``) has no n8n form: n8n evaluates every such value, and resolves credential data twice when it tests a
credential but once when a node runs, so not even an expression that yields the text would mean the same in both.
``n8n_data`` reports those fields instead of exporting something n8n would change. Importing the result again
gives the same data. Token fields FluxNex derives (``expires_at``,
``refresh_token_expires_at``) and its OAuth server metadata stay: n8n keeps ``oauthTokenData`` as an opaque
object and ignores fields no property declares. The tokens a code-authenticated type fetched first
(``codeTokenData``, ``fluxnex.lifecycle.code_tokens_shared``) are not exported: n8n fetches its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fluxnex.n8n.expression_marks import EXPRESSIONS_KEY, Expression
from fluxnex.n8n.validation import CODE_TOKENS_FIELD

__all__ = ["n8n_data", "n8n_entry"]


def n8n_data(data: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The n8n form of a connection's decrypted data (marked values are ``Expression``s, as
    ``fluxnex.n8n.expression_marks.from_stored`` returns them), and the top-level fields holding a literal that
    begins with ``=`` (which n8n would evaluate: the caller must not export the data then)."""
    out: dict[str, Any] = {}
    literals: list[str] = []
    for key, value in data.items():
        if key in (EXPRESSIONS_KEY, CODE_TOKENS_FIELD):  # marks, and FluxNex's own store of fetched tokens
            continue
        if isinstance(value, str) and value.startswith("=") and not isinstance(value, Expression):
            literals.append(key)
        out[key] = str(value) if isinstance(value, str) else value  # Expression/Literal -> plain str
    return out, sorted(literals)


def n8n_entry(*, id: str, name: str, type: str, data: dict[str, Any] | str, created_at: str,
              updated_at: str) -> dict[str, Any]:
    """One element of the file: the fields ``n8n export:credentials`` writes and ``import:credentials`` reads."""
    return {"id": id, "name": name, "type": type, "data": data, "createdAt": created_at, "updatedAt": updated_at,
            "isManaged": False}
