"""The back-end API under ``/api/v1``: one ``Endpoint`` per operation, from which the routes and the OpenAPI
document (``_openapi``) are both built, so the document cannot drift from what is served.

Every handler runs the manager's blocking calls in the thread pool, but for the reads marked ``on_loop``
(a connection by id, its credentials): those are first tried on the event loop over the service's
``PromptReader``, and go to the thread pool only when it cannot answer at once (``Busy``: its connection in
use, closed or over its timeout) or the token is due (a refresh waits on the provider and leases). Secrets appear
in no response but ``GET .../credentials``.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import attrs
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from fluxnex.api.connection_info import ConnectionInfo
from fluxnex.contract.errors import FluxnexError, UnknownCredentialType
from fluxnex.n8n.validation import check_connection_name
from fluxnex.storage.store._prompt import Busy
from fluxnex.storage.store._service import ApiKey, hash_secret

from ._auth import authenticate, bearer_token, check_tenant
from ._problems import Problem
from ._types_json import describe_type, type_summary

if TYPE_CHECKING:
    from fluxnex.storage.store import ConnectionRow
    from fluxnex.storage.store._prompt import PromptRead

    from ._service import Service

__all__ = ["ENDPOINTS", "Call", "Endpoint"]

PREFIX = "/api/v1"


@attrs.frozen
class Call:
    """One authenticated request: the service, the request, the key (None on public endpoints), and on the
    event loop what the ``PromptReader`` read for it (None in the thread pool)."""

    service: Service
    request: Request
    key: ApiKey | None
    body: bytes = b""
    prompt: PromptRead | None = None

    def path_uuid(self, name: str, what: str) -> uuid.UUID:
        """A UUID path parameter; 404 when it is not one (nothing can exist there)."""
        raw = self.request.path_params[name]
        try:
            return uuid.UUID(raw)
        except ValueError:
            raise Problem(404, f"{what} {raw!r} not found: not a UUID", kind="not-found") from None

    def tenant(self) -> uuid.UUID:
        """The path's tenant, which a tenant-bound key must match."""
        tenant = self.path_uuid("tenant_id", "tenant")
        assert self.key is not None
        check_tenant(self.key, tenant)
        return tenant

    def connection(self) -> ConnectionRow:
        """The path's connection of the path's tenant; 404 for any other tenant's."""
        tenant = self.tenant()
        prompt = self.prompt
        if prompt is not None and prompt.connection_id is not None:  # the loop parsed the same path parameter
            connection_id = prompt.connection_id
        else:
            connection_id = self.path_uuid("connection_id", "connection")
        row = (prompt or self.service.manager.store).get_by_id(connection_id)
        if row is None or row.tenant_id != tenant:
            raise Problem(404, f"connection {connection_id} not found for tenant {tenant}", kind="not-found")
        return row

    def data(self, row: ConnectionRow) -> dict[str, Any]:
        """``read_row``'s data of ``row``; on the event loop ``Busy`` instead of a refresh (the pool refreshes)."""
        manager = self.service.manager
        if self.prompt is None:
            return manager.read_row(row)[1]
        data = manager.ready_data(row)
        if data is None:
            raise Busy("the token is due: its refresh waits in the thread pool")
        return data

    def json_object(self) -> dict[str, Any]:
        """The body as a JSON object; 422 otherwise."""
        try:
            body = json.loads(self.body)
        except ValueError:
            raise Problem(422, "the request body is not JSON", kind="validation", errors=[]) from None
        if not isinstance(body, dict):
            raise Problem(422, "the request body must be a JSON object", kind="validation", errors=[])
        return body


Handler = Callable[[Call], Response]


@attrs.frozen
class Endpoint:
    """One operation: method, path (OpenAPI syntax, which Starlette shares), scope, and its documentation."""

    method: str
    path: str
    operation_id: str
    summary: str
    scope: str | None
    handler: Handler
    ok: int = 200
    response: str | None = None  # component schema name of the success body (None: no body)
    request: str | None = None  # component schema name of the JSON body
    query: tuple[tuple[str, str], ...] = ()  # (name, description)
    on_loop: bool = False  # a read the event loop may answer (the handler raises Busy to go to the pool)


def _bad_field(field: str, message: str) -> Problem:
    return Problem(422, f"{field}: {message}", kind="validation", errors=[{"field": field, "message": message}])


def _info(info: ConnectionInfo, status: int = 200) -> JSONResponse:
    return JSONResponse(info.to_json(), status_code=status)


# -- types -------------------------------------------------------------------------------------------------

def list_types(call: Call) -> Response:
    registry = call.service.manager.registry
    return JSONResponse([type_summary(registry, registry.get(n)) for n in sorted(registry.names())])


def get_type(call: Call) -> Response:
    registry = call.service.manager.registry
    name = call.request.path_params["name"]
    if name not in registry:
        raise Problem(404, f"unknown credential type {name!r}", kind="not-found")
    return JSONResponse(describe_type(registry, registry.get(name)))


# -- connections -------------------------------------------------------------------------------------------

def list_connections(call: Call) -> Response:
    tenant = call.tenant()
    q = call.request.query_params
    infos = call.service.manager.list_connections(tenant, q.get("type") or None,
                                    q.get("status") or None)
    name = q.get("name")
    return JSONResponse([i.to_json() for i in infos if name is None or i.name == name])


def create_connection(call: Call) -> Response:
    tenant = call.tenant()
    body = call.json_object()
    type_name, name, data = body.get("type"), body.get("name"), body.get("data", {})
    if not isinstance(type_name, str) or not type_name:
        raise _bad_field("type", "a credential type name is required")
    if not isinstance(name, str) or not name:
        raise _bad_field("name", "a connection name is required")
    if not isinstance(data, dict):
        raise _bad_field("data", "must be an object")
    try:
        info = call.service.manager.create_connection(tenant, type_name, name, data)
    except UnknownCredentialType as exc:
        raise _bad_field("type", str(exc)) from None
    return _info(info, 201)


def get_connection(call: Call) -> Response:
    return _info(ConnectionInfo.from_row(call.connection()))


def update_connection(call: Call) -> Response:
    row = call.connection()
    body = call.json_object()
    new_name, data = body.get("name"), body.get("data")
    if new_name is not None and (not isinstance(new_name, str) or not new_name):
        raise _bad_field("name", "must be a non-empty string")
    if data is not None and not isinstance(data, dict):
        raise _bad_field("data", "must be an object")
    info = call.service.manager.update_connection(row.tenant_id, row.name, data, new_name)
    return _info(info)


def delete_connection(call: Call) -> Response:
    row = call.connection()
    call.service.manager.delete_connection(row.tenant_id, row.name)
    return Response(status_code=204)


def test_connection(call: Call) -> Response:
    row = call.connection()
    result = call.service.manager.test_connection(row.tenant_id, row.name)
    return JSONResponse({"ok": result.ok, "message": result.message, "status_code": result.status_code})


def refresh_connection(call: Call) -> Response:
    row = call.connection()
    manager = call.service.manager
    manager.refresh_connection(row.tenant_id, row.name)
    return _info(manager.get_connection_info(row.tenant_id, row.name))


def get_credentials(call: Call) -> Response:
    data = call.data(call.connection())  # get_connection of the row just read by id
    return JSONResponse(data, headers={"Cache-Control": "no-store"})


# -- connect sessions and health ---------------------------------------------------------------------------

def create_connect_session(call: Call) -> Response:
    body = call.json_object()
    service, key = call.service, call.key
    assert key is not None
    try:
        tenant = uuid.UUID(str(body.get("tenant_id")))
    except ValueError:
        raise _bad_field("tenant_id", "must be a UUID") from None
    check_tenant(key, tenant)
    return_url = body.get("return_url")
    if not isinstance(return_url, str) or not service.config.return_url_allowed(return_url):
        allowed = ", ".join(service.config.allowed_return_urls) or "none configured (fluxnex serve --allow-return-url)"
        raise _bad_field("return_url", f"must start with an allowed prefix ({allowed})")
    connection_id, name, type_name = body.get("connection_id"), body.get("name"), body.get("type")
    if connection_id is not None:
        try:
            cid = uuid.UUID(str(connection_id))
        except ValueError:
            raise _bad_field("connection_id", "must be a UUID") from None
        row = service.manager.store.get_by_id(cid)
        if row is None or row.tenant_id != tenant:
            raise Problem(404, f"connection {cid} not found for tenant {tenant}", kind="not-found")
        type_name, name = row.type, row.name
    else:
        if not isinstance(type_name, str) or type_name not in service.manager.registry:
            raise _bad_field("type", f"unknown credential type {type_name!r}")
        if not isinstance(name, str) or not name:
            raise _bad_field("name", "a connection name is required (or connection_id to reconnect)")
        check_connection_name(name)  # length, NUL, control characters: a one-line 4xx, never a driver error
        if service.manager.store.get(tenant, name) is not None:
            raise Problem(409, f"connection {name!r} already exists for tenant {tenant}: pass its connection_id "
                          "to reconnect it", kind="exists")
        type_name = service.manager.registry.get(type_name).name
        cid = None
    session, token = service.rows.create_session(
        tenant_id=tenant, type=str(type_name), name=name, connection_id=cid, return_url=return_url,
        ttl_seconds=service.config.session_ttl, api_key_id=key.id)
    service.session_made()
    return JSONResponse({"token": token, "url": f"{service.config.base}/connect/{token}",
                         "expires_at": session.expires_at.isoformat()}, status_code=201)


def health(call: Call) -> Response:
    ok, body = call.service.health()
    return JSONResponse(body, status_code=200 if ok else 503)


ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint("GET", "/types", "listTypes", "List credential types", "connections:read", list_types,
             response="TypeList"),
    Endpoint("GET", "/types/{name}", "getType", "A type's properties, displayOptions, secrets and JSON Schema",
             "connections:read", get_type, response="TypeDetail"),
    Endpoint("GET", "/tenants/{tenant_id}/connections", "listConnections", "List a tenant's connections",
             "connections:read", list_connections, response="ConnectionList",
             query=(("name", "Only the connection of this name"), ("type", "Only connections of this type"),
                    ("status", "ACTIVE, ERROR, EXPIRED or NOT_CONNECTED"))),
    Endpoint("POST", "/tenants/{tenant_id}/connections", "createConnection", "Create a connection",
             "connections:write", create_connection, ok=201, response="Connection", request="ConnectionCreate"),
    Endpoint("GET", "/tenants/{tenant_id}/connections/{connection_id}", "getConnection",
             "A connection's metadata (no secrets)", "connections:read", get_connection, response="Connection",
             on_loop=True),
    Endpoint("PATCH", "/tenants/{tenant_id}/connections/{connection_id}", "updateConnection",
             "Replace the data and/or rename", "connections:write", update_connection, response="Connection",
             request="ConnectionPatch"),
    Endpoint("DELETE", "/tenants/{tenant_id}/connections/{connection_id}", "deleteConnection",
             "Delete a connection", "connections:write", delete_connection, ok=204),
    Endpoint("POST", "/tenants/{tenant_id}/connections/{connection_id}/test", "testConnection",
             "Test the credentials against the provider", "connections:read", test_connection,
             response="TestResult"),
    Endpoint("POST", "/tenants/{tenant_id}/connections/{connection_id}/refresh", "refreshConnection",
             "Refresh the token now", "connections:write", refresh_connection, response="Connection"),
    Endpoint("GET", "/tenants/{tenant_id}/connections/{connection_id}/credentials", "getCredentials",
             "The fresh credential data (refreshed first when due), as get_connection returns it",
             "credentials:read", get_credentials, response="Credentials", on_loop=True),
    Endpoint("POST", "/connect-sessions", "createConnectSession",
             "A single-use link to the hosted connect page", "connect:create", create_connect_session, ok=201,
             response="ConnectSession", request="ConnectSessionCreate"),
    Endpoint("GET", "/health", "health", "Database reachable and migrations current", None, health,
             response="Health"),
)


def _uuid_or_none(value: str | None) -> uuid.UUID | None:
    try:
        return None if value is None else uuid.UUID(value)
    except ValueError:
        return None  # the handler answers 404 before it looks anything up


def wrap(service: Service, endpoint: Endpoint) -> Callable[[Request], Awaitable[Response]]:
    """The Starlette endpoint: the body is read, then authentication, the scope check and the handler run in one
    hop to the thread pool (the manager blocks); library errors become problems. An ``on_loop`` endpoint tries
    all of it on the event loop first, over the service's ``PromptReader``; on ``Busy`` the thread pool carries on
    from where the loop stopped (a key already checked and counted is not checked again), and so it does when the
    key's last use is due to be recorded (a write)."""
    prompt = service.prompt if endpoint.on_loop else None

    def respond(request: Request, key: ApiKey | None, body: bytes, reads: PromptRead | None) -> Response:
        try:
            return endpoint.handler(Call(service, request, key, body, reads))
        except FluxnexError as exc:
            raise service.problem(exc) from None

    def run_sync(request: Request, body: bytes, key: ApiKey | None, touch: bool) -> Response:
        if key is None and endpoint.scope is not None:
            key = authenticate(request, service.rows, service.limiter, endpoint.scope)
            touch = service.touch_due(key.id, time.monotonic())
        if touch and key is not None:
            service.rows.touch_api_key(key.id)
        response = respond(request, key, body, None)
        if prompt is not None:
            prompt.open()  # after a failure, once RETRY_AFTER has passed (it may wait: this is a worker thread)
        return response

    async def run(request: Request) -> Response:
        body = await request.body() if endpoint.request else b""
        key, touch = None, False
        token = bearer_token(request)
        if prompt is not None and prompt.is_open and token is not None and endpoint.scope is not None:
            try:
                reads = await prompt.aread(hash_secret(token), _uuid_or_none(request.path_params.get("connection_id")))
                key = authenticate(request, service.rows, service.limiter, endpoint.scope, reads)
                touch = service.touch_due(key.id, time.monotonic())
                if not touch:
                    return respond(request, key, body, reads)
            except Busy:
                pass
        return await run_in_threadpool(run_sync, request, body, key, touch)

    run.__name__ = endpoint.operation_id
    return run
