"""Import the output of ``n8n export:credentials`` (``--decrypted`` or encrypted) into a tenant's connections.

Every entry is decrypted first: one entry that the n8n key cannot decrypt stops the import before anything is
written (a wrong key is one error, not N partial imports). Then every entry is checked (type, name, data) before
the first is stored encrypted under FluxNex's keys; the report lists what was imported and what was skipped,
and why. Values beginning with ``=`` are n8n expressions and are imported marked as such. Fields n8n keeps but
the type does not declare are ignored, as n8n ignores them; ``oauthTokenData`` (with its
``callbackQueryString``, where QuickBooks' ``realmId`` lives) is kept as n8n stored it. A re-run skips
entries already imported (same name, type and data), so it never duplicates.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Literal

import attrs

from fluxnex.contract.errors import (
    ConnectionExists,
    DecryptionError,
    FluxnexError,
    UnknownCredentialType,
    ValidationError,
)
from fluxnex.n8n._files import read_json
from fluxnex.n8n.cipher import decrypt_n8n

if TYPE_CHECKING:
    from fluxnex.api.manager import CredentialManager

__all__ = ["KEY_ENV", "ImportItem", "ImportReport", "import_export", "read_export"]

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


def _decrypt_all(entries: list[dict[str, Any]], key: str | None) -> list[dict[str, Any]]:
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


def _comparable(data: Mapping[str, Any]) -> dict[str, Any]:
    """``data`` without the expiry FluxNex derives on write (it depends on the time of the import)."""
    out = dict(data)
    token = out.get("oauthTokenData")
    if isinstance(token, Mapping) and "expires_in" in token:
        out["oauthTokenData"] = {k: v for k, v in token.items() if k != "expires_at"}
    return out


def import_export(manager: CredentialManager, tenant_id: uuid.UUID | str,
                  source: str | os.PathLike[str] | Iterable[Any], *, n8n_key: str | None = None) -> ImportReport:
    """Import an n8n credentials export into ``tenant_id``; raises ``DecryptionError`` before writing anything.

    Every entry is checked (type, name, data, existing connection) before the first is written; the report
    lists each entry that was imported and each that was skipped, with the reason.
    """
    from fluxnex.api.manager import parse_tenant

    tenant = parse_tenant(tenant_id)
    entries = read_export(source)
    key = n8n_key if n8n_key is not None else os.environ.get(KEY_ENV)
    plain = _decrypt_all(entries, key)
    report = ImportReport()
    planned: list[tuple[ImportItem, dict[str, Any]]] = []
    seen: set[str] = set()
    for entry, data in zip(entries, plain, strict=True):
        item, usable = _plan(manager, tenant, entry, data, seen)
        if item.outcome == "imported":
            planned.append((item, usable))
        else:
            report.skipped.append(item)
    for item, usable in planned:
        try:
            manager.create_connection(tenant, item.type, item.name, usable)
        except ConnectionExists:
            report.skipped.append(attrs.evolve(
                item, outcome="name taken", reason=f"the tenant already has a connection named {item.name!r}"))
            continue
        except FluxnexError as exc:
            report.skipped.append(attrs.evolve(item, outcome="invalid data", reason=str(exc)))
            continue
        report.imported.append(item)
    return report


def _plan(manager: CredentialManager, tenant: uuid.UUID, entry: Mapping[str, Any], data: dict[str, Any],
          seen: set[str]) -> tuple[ImportItem, dict[str, Any]]:
    """What to do with one entry: an "imported" item and the data to store, or the reason to skip it."""
    from fluxnex.api.manager import with_token_expiry
    from fluxnex.n8n.domains import DOMAIN_FIELDS
    from fluxnex.n8n.expression_marks import EXPRESSIONS_KEY
    from fluxnex.n8n.validation import MANAGED_FIELDS, check_connection_name, validate

    name, type_name = entry["name"], entry["type"]
    n8n_id = str(entry["id"]) if entry.get("id") is not None else None

    def skip(outcome: Outcome, reason: str) -> tuple[ImportItem, dict[str, Any]]:
        return ImportItem(name, type_name, n8n_id, outcome, reason), {}

    try:
        ct = manager.credential_type(type_name)
    except UnknownCredentialType:
        return skip("unknown type", f"no installed plugin or catalog provides the credential type {type_name!r}")
    except FluxnexError as exc:
        return skip("unknown type", str(exc))
    known = {p.name for p in ct.properties} | MANAGED_FIELDS | DOMAIN_FIELDS
    ignored = sorted(str(k) for k in data if k not in known)
    usable = {k: v for k, v in data.items() if k in known}
    # n8n evaluates every value that begins with '=': imported values keep that meaning (see expression_marks)
    usable[EXPRESSIONS_KEY] = sorted(k for k, v in usable.items() if isinstance(v, str) and v.startswith("="))
    try:
        check_connection_name(name)
        clean = validate(ct, usable)
    except ValidationError as exc:
        return skip("invalid data", str(exc))
    if name in seen:
        return skip("name taken", f"the export holds more than one credential named {name!r}")
    seen.add(name)
    existing = manager.store.get(tenant, name)
    if existing is not None:
        same = existing.type == ct.name and _comparable(manager.decrypt(existing)) == _comparable(
            with_token_expiry(dict(clean)))
        if same:
            return skip("already imported", "a connection of this name, type and data exists")
        return skip("name taken", f"the tenant already has a connection named {name!r} ({existing.type})")
    note = f"ignored fields the type does not declare: {', '.join(ignored)}" if ignored else ""
    return ImportItem(name, ct.name, n8n_id, "imported", note), usable
