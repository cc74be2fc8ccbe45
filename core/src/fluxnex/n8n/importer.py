"""n8n's ``export:credentials`` format (``--decrypted`` or encrypted): entries, their data, the import report.

Every entry is decrypted first: one entry that the n8n key cannot decrypt stops the import before anything is
written (a wrong key is one error, not N partial imports). Then every entry is checked (type, name, data) before
the first is stored encrypted under FluxNex's keys; the report lists what was imported and what was skipped,
and why. Values beginning with ``=`` are n8n expressions and are imported marked as such. Fields n8n keeps but
the type does not declare are ignored, as n8n ignores them; ``oauthTokenData`` (with its
``callbackQueryString``, where QuickBooks' ``realmId`` lives) is kept as n8n stored it. A re-run skips
entries already imported (same name, type and data), so it never duplicates. The import itself, which stores
the connections, is ``fluxnex.api.n8n_import.import_export``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Literal

import attrs

from fluxnex.contract.errors import (
    DecryptionError,
    FluxnexError,
)
from fluxnex.n8n._files import read_json
from fluxnex.n8n.cipher import decrypt_n8n

if TYPE_CHECKING:
    from fluxnex.contract.schema import CredentialType

__all__ = ["KEY_ENV", "ImportItem", "ImportReport", "Outcome", "decrypt_entries", "read_export", "usable_data"]

KEY_ENV = "N8N_ENCRYPTION_KEY"
Outcome = Literal["imported", "already imported", "unknown type", "invalid data", "name taken"]


@attrs.frozen
class ImportItem:
    """One exported credential and what happened to it (``reason`` never holds a secret)."""

    name: str
    type: str
    n8n_id: str | None
    outcome: Outcome
    reason: str = ""

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return attrs.asdict(self)


@attrs.define
class ImportReport:
    """What an import did: the imported entries and the skipped ones, each with its reason."""

    imported: list[ImportItem] = attrs.field(factory=list)
    skipped: list[ImportItem] = attrs.field(factory=list)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {"imported": [i.to_json() for i in self.imported], "skipped": [i.to_json() for i in self.skipped]}


def read_export(source: str | os.PathLike[str] | Iterable[Any]) -> list[dict[str, Any]]:
    """The entries of an export: a JSON array file (or one object), or an already-parsed list."""
    raw = read_json(source, str(source), FluxnexError) if isinstance(source, str | os.PathLike) else list(source)
    entries = [raw] if isinstance(raw, Mapping) else raw
    if not isinstance(entries, list):
        raise FluxnexError("an n8n export must be a JSON array of credentials")
    for index, entry in enumerate(entries):
        if not isinstance(entry, Mapping) or not isinstance(entry.get("name"), str) \
                or not isinstance(entry.get("type"), str) or "data" not in entry:
            raise FluxnexError(f"entry {index} of the export is not an n8n credential (name, type and data)")
    return [dict(e) for e in entries]


def decrypt_entries(entries: list[dict[str, Any]], key: str | None) -> list[dict[str, Any]]:
    """The plain data of every entry; ``DecryptionError`` (before anything is written) when one cannot be read."""
    plain: list[dict[str, Any]] = []
    for entry in entries:
        data = entry["data"]
        if isinstance(data, str):
            if not key:
                raise DecryptionError(
                    f"the export is encrypted: give n8n's encryption key with --n8n-key or {KEY_ENV}")
            data = decrypt_n8n(data, key, what=f"n8n credential {entry['name']!r}")
        elif not isinstance(data, Mapping):
            raise FluxnexError(f"n8n credential {entry['name']!r}: data must be an object or n8n ciphertext")
        plain.append(dict(data))
    return plain


def usable_data(ct: CredentialType, data: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The fields of ``data`` the type keeps (``=`` values marked as expressions), and the ignored field names."""
    from fluxnex.n8n.domains import DOMAIN_FIELDS
    from fluxnex.n8n.expression_marks import EXPRESSIONS_KEY
    from fluxnex.n8n.validation import MANAGED_FIELDS

    known = {p.name for p in ct.properties} | MANAGED_FIELDS | DOMAIN_FIELDS
    ignored = sorted(str(k) for k in data if k not in known)
    usable = {k: v for k, v in data.items() if k in known}
    # n8n evaluates every value that begins with '=': imported values keep that meaning (see expression_marks)
    usable[EXPRESSIONS_KEY] = sorted(k for k, v in usable.items() if isinstance(v, str) and v.startswith("="))
    return usable, ignored
