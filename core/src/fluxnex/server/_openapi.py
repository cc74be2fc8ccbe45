"""The OpenAPI 3.1 document of ``/api/v1``, built from ``_api.ENDPOINTS`` (the same table the routes come from)."""

from __future__ import annotations

from typing import Any

from fluxnex import __version__

from ._api import ENDPOINTS, PREFIX, Endpoint

__all__ = ["openapi_document"]

_TS = {"type": ["string", "null"], "format": "date-time"}
_ERRORS = {"type": "array", "items": {"type": "object", "required": ["field", "message"],
                                       "properties": {"field": {"type": "string"}, "message": {"type": "string"}}}}
SCHEMAS: dict[str, Any] = {
    "Problem": {
        "type": "object", "required": ["type", "title", "status", "detail"],
        "properties": {"type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
                       "detail": {"type": "string"}, "instance": {"type": "string"}, "errors": _ERRORS},
    },
    "Connection": {
        "type": "object",
        "required": ["id", "tenant_id", "type", "name", "status", "expires_at", "created_at", "updated_at",
                     "last_refreshed_at", "refresh_failures", "last_error", "refresh_expires_at", "reconnect_soon"],
        "properties": {
            "id": {"type": "string", "format": "uuid"}, "tenant_id": {"type": "string", "format": "uuid"},
            "type": {"type": "string"}, "name": {"type": "string"},
            "status": {"enum": ["ACTIVE", "ERROR", "EXPIRED", "NOT_CONNECTED"]},
            "expires_at": _TS, "created_at": {"type": "string", "format": "date-time"},
            "updated_at": {"type": "string", "format": "date-time"}, "last_refreshed_at": _TS,
            "refresh_failures": {"type": "integer"}, "last_error": {"type": ["string", "null"]},
            "refresh_expires_at": _TS, "reconnect_soon": {"type": "boolean"},
        },
    },
    "ConnectionList": {"type": "array", "items": {"$ref": "#/components/schemas/Connection"}},
    "ConnectionCreate": {
        "type": "object", "required": ["type", "name"],
        "properties": {"type": {"type": "string", "minLength": 1}, "name": {"type": "string", "minLength": 1},
                       "data": {"type": "object", "description": "The credential data (see GET /types/{name})"}},
    },
    "ConnectionPatch": {
        "type": "object",
        "properties": {"name": {"type": "string", "minLength": 1},
                       "data": {"type": "object", "description": "Replaces the data; the stored token is kept"}},
    },
    "TestResult": {
        "type": "object", "required": ["ok", "message", "status_code"],
        "properties": {"ok": {"type": "boolean"}, "message": {"type": "string"},
                       "status_code": {"type": ["integer", "null"]}},
    },
    "Credentials": {"type": "object", "description": "The decrypted credential data", "additionalProperties": True},
    "TypeSummary": {
        "type": "object", "required": ["name", "display_name", "extends", "oauth2"],
        "properties": {"name": {"type": "string"}, "display_name": {"type": "string"},
                       "extends": {"type": "array", "items": {"type": "string"}}, "oauth2": {"type": "boolean"}},
    },
    "TypeList": {"type": "array", "items": {"$ref": "#/components/schemas/TypeSummary"}},
    "TypeDetail": {
        "allOf": [{"$ref": "#/components/schemas/TypeSummary"}],
        "type": "object", "required": ["properties", "json_schema"],
        "properties": {
            "documentation_url": {"type": ["string", "null"]},
            "properties": {"type": "array", "items": {
                "type": "object", "required": ["name", "display_name", "type", "required", "secret"],
                "properties": {"name": {"type": "string"}, "display_name": {"type": "string"},
                               "type": {"type": "string"}, "required": {"type": "boolean"},
                               "secret": {"type": "boolean"}, "display_options": {"type": ["object", "null"]}}}},
            "json_schema": {"type": "object"},
        },
    },
    "ConnectSessionCreate": {
        "type": "object", "required": ["tenant_id", "return_url"],
        "properties": {"tenant_id": {"type": "string", "format": "uuid"}, "type": {"type": "string"},
                       "name": {"type": "string", "minLength": 1},
                       "connection_id": {"type": "string", "format": "uuid", "description": "Reconnect this one"},
                       "return_url": {"type": "string", "format": "uri"}},
    },
    "ConnectSession": {
        "type": "object", "required": ["token", "url", "expires_at"],
        "properties": {"token": {"type": "string"}, "url": {"type": "string", "format": "uri"},
                       "expires_at": {"type": "string", "format": "date-time"}},
    },
    "Health": {
        "type": "object", "required": ["status", "database"],
        "properties": {"status": {"enum": ["ok", "unavailable"]}, "database": {"type": "string"},
                       "revision": {"type": ["string", "null"]}, "head": {"type": ["string", "null"]},
                       "detail": {"type": "string"}},
    },
}


def _problem(description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    schema = {"$ref": "#/components/schemas/Problem"}
    out: dict[str, Any] = {"description": description, "content": {"application/problem+json": {"schema": schema}}}
    if headers:
        out["headers"] = headers
    return out


def _operation(e: Endpoint) -> dict[str, Any]:
    params = [{"name": n, "in": "path", "required": True, "schema": {"type": "string"}}
              for n in ("tenant_id", "connection_id", "name") if "{" + n + "}" in e.path]
    params += [{"name": n, "in": "query", "required": False, "description": d, "schema": {"type": "string"}}
               for n, d in e.query]
    ok: dict[str, Any] = {"description": e.summary}
    if e.response:
        ok["content"] = {"application/json": {"schema": {"$ref": f"#/components/schemas/{e.response}"}}}
    responses: dict[str, Any] = {str(e.ok): ok}
    if e.scope is not None:
        responses["401"] = _problem("Missing, invalid or revoked API key",
                                    {"WWW-Authenticate": {"schema": {"type": "string"}}})
        responses["403"] = _problem(f"The key lacks the scope {e.scope}")
        responses["429"] = _problem("Rate limit exceeded", {"Retry-After": {"schema": {"type": "string"}}})
        responses["400"] = _problem("Bad request")
        responses["404"] = _problem("Not found (also: another tenant's resource)")
        responses["409"] = _problem("Conflict (exists, needs reconnecting, not refreshable, changed meanwhile)")
        responses["422"] = _problem("Validation failed: errors lists each field")
    if e.operation_id in ("testConnection", "refreshConnection", "getCredentials"):
        responses["502"] = _problem("The provider failed")
    responses["503"] = ({"description": "Database unreachable or migrations not current",
                         "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Health"}}}}
                        if e.operation_id == "health" else _problem("Database unavailable"))
    op: dict[str, Any] = {"operationId": e.operation_id, "summary": e.summary, "responses": responses}
    if params:
        op["parameters"] = params
    if e.scope is not None:
        op["security"] = [{"bearer": [e.scope]}]
        op["description"] = f"Scope: `{e.scope}` (or `admin`)."
    if e.request:
        op["requestBody"] = {"required": True, "content": {
            "application/json": {"schema": {"$ref": f"#/components/schemas/{e.request}"}}}}
    return op


def openapi_document(public_url: str) -> dict[str, Any]:
    """The document: every endpoint of ``ENDPOINTS``, its scope, parameters and response schemas."""
    paths: dict[str, dict[str, Any]] = {}
    for e in ENDPOINTS:
        paths.setdefault(e.path, {})[e.method.lower()] = _operation(e)
    return {
        "openapi": "3.1.0",
        "info": {"title": "FluxNex connect service", "version": __version__,
                 "description": "Connections, credentials and connect sessions over HTTP. Errors are RFC 9457 "
                                "problem details."},
        "servers": [{"url": public_url.rstrip("/") + PREFIX}],
        "paths": paths,
        "components": {"schemas": SCHEMAS,
                       "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                                      "description": "An API key from `fluxnex api-keys create`"}}},
    }
