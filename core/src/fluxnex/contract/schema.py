"""Credential types in n8n's schema (``ICredentialType`` / ``INodeProperties``) as attrs classes.

``CredentialType.from_n8n(obj)`` reads n8n's camelCase JSON and ``ct.to_n8n()`` writes it back; keys the
schema does not model are kept in ``extra``, so every definition of n8n's catalog round-trips unchanged.
Python authors may also subclass ``CredentialType`` and set class attributes (``name``, ``display_name``,
``properties``, ...); ``CredentialType.coerce`` turns such a class into an instance.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar, Final

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from fluxnex.contract import builtins
from fluxnex.contract.errors import PluginError

__all__ = ["PROPERTY_TYPES", "UNSET", "CredentialType", "Property", "converter"]


class _Unset:
    """The absence of a value (distinct from JSON ``null``); falsy, and a singleton."""

    _instance: ClassVar[_Unset | None] = None

    def __new__(cls) -> _Unset:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNSET"

    def __bool__(self) -> bool:
        return False


UNSET: Final = _Unset()

#: Property types FluxNex understands: n8n's, plus the seed's ``password`` (a secret string).
PROPERTY_TYPES: Final = frozenset(
    {
        "string",
        "password",
        "hidden",
        "number",
        "boolean",
        "options",
        "multiOptions",
        "json",
        "notice",
        "collection",
        "fixedCollection",
        "dateTime",
        "color",
    }
)

# Hidden fields that hold tokens obtained by the framework (pre-authentication, OAuth) are secrets too.
_SECRET_NAME = re.compile(r"(token|secret|password|apikey|api_key|privatekey|private_key)", re.IGNORECASE)
_URL_NAME = re.compile(r"(url|uri)$", re.IGNORECASE)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


@attrs.define(kw_only=True, slots=False)
class Property:
    """One field of a credential type (n8n ``INodeProperties``)."""

    display_name: str
    name: str
    type: str = "string"
    default: Any = UNSET
    required: bool | None = None
    type_options: dict[str, Any] | None = None
    description: str | None = None
    placeholder: str | None = None
    hint: str | None = None
    options: list[Any] | None = None
    display_options: dict[str, Any] | None = None
    do_not_inherit: bool | None = None
    extra: dict[str, Any] = attrs.field(factory=dict, repr=False)

    @property
    def is_secret(self) -> bool:
        """Whether values of this property are secrets (masked in the CLI, redacted in logs)."""
        options = self.type_options or {}
        if self.type == "password" or options.get("password") or options.get("expirable"):
            return True
        return (
            self.type == "hidden" and bool(_SECRET_NAME.search(self.name)) and not _URL_NAME.search(self.name)
        )

    @property
    def default_value(self) -> Any:
        """The default n8n would use: the declared one, else the type's empty value."""
        if self.default is not UNSET:
            return self.default
        return {
            "boolean": False,
            "number": 0,
            "multiOptions": [],
            "collection": {},
            "fixedCollection": {},
        }.get(self.type, "")

    @property
    def option_values(self) -> list[Any] | None:
        """The allowed values of an ``options``/``multiOptions`` property, else None."""
        if self.type not in ("options", "multiOptions") or self.options is None:
            return None
        return [o.get("value") for o in self.options if isinstance(o, Mapping)]

    @classmethod
    def from_n8n(cls, obj: Mapping[str, Any]) -> Property:
        """Build a property from n8n JSON."""
        return converter.structure(dict(obj), cls)

    def to_n8n(self) -> dict[str, Any]:
        """Return the n8n JSON of this property."""
        result: dict[str, Any] = converter.unstructure(self)
        return result


@attrs.define(kw_only=True, slots=False)
class CredentialType:
    """A credential type (n8n ``ICredentialType``): its fields and how it authenticates and is tested."""

    name: str
    display_name: str
    properties: list[Property] = attrs.field(factory=list)
    extends: list[str] | None = None
    documentation_url: str | None = None
    icon: Any = None
    icon_url: Any = None
    authenticate: dict[str, Any] | None = None
    test: dict[str, Any] | None = None
    generic_auth: bool | None = None
    supported_nodes: list[str] | None = None
    http_request_node: dict[str, Any] | None = None
    extra: dict[str, Any] = attrs.field(factory=dict, repr=False)

    # -- conversion ---------------------------------------------------------------------------------

    @classmethod
    def from_n8n(cls, obj: Mapping[str, Any]) -> CredentialType:
        """Build a credential type from n8n JSON (camelCase keys); unknown keys are kept."""
        if not isinstance(obj, Mapping) or not isinstance(obj.get("name"), str):
            raise PluginError("an n8n credential definition must be an object with a string 'name'")
        try:
            return converter.structure(dict(obj), CredentialType)
        except (cattrs.BaseValidationError, TypeError, KeyError, ValueError) as exc:
            raise PluginError(
                f"credential type {obj.get('name')!r}: malformed definition ({_first_error(exc)})"
            ) from None

    def to_n8n(self) -> dict[str, Any]:
        """Return n8n JSON for this type; ``from_n8n(x).to_n8n() == x``."""
        result: dict[str, Any] = converter.unstructure(self, CredentialType)
        return result

    @classmethod
    def coerce(cls, value: Any) -> CredentialType:
        """Accept an instance, a subclass written in class style, or n8n JSON, and return an instance."""
        if isinstance(value, CredentialType):
            return value
        if isinstance(value, type) and issubclass(value, CredentialType):
            values: dict[str, Any] = {}
            for field in attrs.fields(CredentialType):
                if field.name == "extra":
                    continue
                attr = getattr(value, field.name, attrs.NOTHING)
                if attr is not attrs.NOTHING and not isinstance(attr, property):
                    values[field.name] = list(attr) if field.name == "properties" else attr
            if "name" not in values or "display_name" not in values:
                raise PluginError(
                    f"credential type class {value.__qualname__} must set `name` and `display_name`"
                )
            values["properties"] = [
                p if isinstance(p, Property) else Property.from_n8n(p) for p in values.get("properties", [])
            ]
            return value(**values)
        if isinstance(value, Mapping):
            return cls.from_n8n(value)
        raise PluginError(f"cannot register {value!r}: expected a CredentialType, a subclass, or n8n JSON")

    # -- queries ------------------------------------------------------------------------------------

    def get_property(self, name: str) -> Property | None:
        """Return the property called ``name``, or None."""
        for prop in self.properties:
            if prop.name == name:
                return prop
        return None

    @property
    def secret_fields(self) -> frozenset[str]:
        """Names of the properties whose values are secrets, plus the framework's token data."""
        return frozenset(p.name for p in self.properties if p.is_secret) | {"oauthTokenData"}

    def is_secret(self, field: str) -> bool:
        """Whether the data field ``field`` holds a secret (unknown fields count as secret)."""
        prop = self.get_property(field)
        return prop.is_secret if prop is not None else True

    def defaults(self) -> dict[str, Any]:
        """The default value of every property that holds data (notices excluded)."""
        return {p.name: p.default_value for p in self.properties if p.type != "notice"}

    # -- n8n semantics (fluxnex.n8n.authenticate, loaded by name: see contract.builtins) -----------------

    def effective_data(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        """The data n8n would use: defaults filled, hidden-by-displayOptions dropped, expressions resolved."""
        result: dict[str, Any] = _n8n_semantics().effective_data(self, raw)
        return result

    def resolve_authenticate(self, credentials: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
        """Resolve the generic ``authenticate`` block against ``credentials`` as n8n does."""
        result: dict[str, dict[str, Any]] = _n8n_semantics().resolve_authenticate(self, credentials)
        return result

    def resolve_test_request(self, credentials: Mapping[str, Any]) -> dict[str, Any] | None:
        """Resolve ``test.request`` against ``credentials`` as n8n does; None when the type has none."""
        result: dict[str, Any] | None = _n8n_semantics().resolve_test_request(self, credentials)
        return result


def _n8n_semantics() -> Any:
    return builtins.load(builtins.N8N_SEMANTICS)


def _first_error(exc: BaseException) -> str:
    if isinstance(exc, cattrs.BaseValidationError) and exc.exceptions:
        return _first_error(exc.exceptions[0])
    return str(exc) or type(exc).__name__


def _make_converter() -> cattrs.Converter:
    """Build the converter: camelCase keys, absent fields omitted, unknown keys kept in ``extra``."""
    conv = cattrs.Converter(omit_if_default=True)
    for cls in (Property, CredentialType):
        fields = [f for f in attrs.fields(cls) if f.name != "extra"]
        renames = {
            f.name: override(
                rename=_camel(f.name), omit_if_default=False if f.name in ("properties", "type") else None
            )
            for f in fields
        }
        known = {_camel(f.name) for f in fields}
        structure = make_dict_structure_fn(cls, conv, extra=override(omit=True), **renames)  # type: ignore[arg-type]
        unstructure = make_dict_unstructure_fn(
            cls,
            conv,
            _cattrs_omit_if_default=True,
            extra=override(omit=True),
            **renames,  # type: ignore[arg-type]
        )

        def structure_hook(obj: Any, _: Any, *, _s: Any = structure, _known: set[str] = known) -> Any:
            if not isinstance(obj, Mapping):
                raise TypeError(f"expected an object, got {type(obj).__name__}")
            instance = _s({k: v for k, v in obj.items() if k in _known}, None)
            instance.extra = {k: v for k, v in obj.items() if k not in _known}
            return instance

        def unstructure_hook(obj: Any, *, _u: Any = unstructure) -> dict[str, Any]:
            result: dict[str, Any] = _u(obj)
            result.update(obj.extra)
            return result

        conv.register_structure_hook(cls, structure_hook)
        conv.register_unstructure_hook(cls, unstructure_hook)
    return conv


#: The cattrs converter between the attrs classes and n8n JSON.
converter: Final = _make_converter()
