"""``create_app(manager, config)``: the Starlette application of the connect service.

Routes: the API under ``/api/v1`` (``_api.ENDPOINTS``) and its OpenAPI document, ``/health``, the connect pages,
the OAuth callback and the page's static files. Every response carries ``X-Content-Type-Options: nosniff`` and
``Referrer-Policy: no-referrer`` (a connect link's token never leaks through a Referer); API errors are problem
JSON. ``/metrics`` is the Prometheus text of ``fluxnex.lifecycle.observability`` (the worker's registry), for an admin
key bound to no tenant (it names types and counts across tenants). ``routes=`` adds an embedding application's
own routes.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ._api import ENDPOINTS, PREFIX, wrap
from ._auth import authenticate
from ._config import ServiceConfig
from ._connect import callback_page, connect_page
from ._openapi import openapi_document
from ._problems import Problem, problem_response
from ._service import Service

if TYPE_CHECKING:
    from fluxnex.api.manager import CredentialManager

__all__ = ["create_app"]

_HERE = Path(__file__).parent


class _Headers:
    """Adds the headers every response carries (pure ASGI: no per-request task, keeps keep-alive cheap)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {k.lower() for k, _ in headers}
                headers.append((b"x-content-type-options", b"nosniff"))
                headers.append((b"referrer-policy", b"no-referrer"))
                if b"content-security-policy" not in names:
                    headers.append((b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


def create_app(manager: CredentialManager, config: ServiceConfig | None = None, *,
               routes: Sequence[BaseRoute] = ()) -> Starlette:
    """The connect service over ``manager`` (its database holds every piece of state; run several behind a load
    balancer over PostgreSQL). ``routes`` are added as they are (e.g. ``Route("/metrics", ...)``)."""
    config = config or ServiceConfig()
    service = Service(manager, config)
    document = openapi_document(config.public_url)

    async def openapi(_: Request) -> Response:
        return JSONResponse(document)

    async def health(_: Request) -> Response:
        ok, body = await run_in_threadpool(service.health)
        return JSONResponse(body, status_code=200 if ok else 503)

    def metrics_sync(request: Request) -> Response:
        key = authenticate(request, service.rows, service.limiter, "admin")
        if key.tenant_id is not None:
            raise Problem(403, "the metrics cover every tenant: use an admin key bound to no tenant", kind="forbidden")
        from fluxnex.lifecycle.observability import render_metrics

        body, content_type = render_metrics(manager)
        return Response(body, headers={"content-type": content_type})

    async def metrics(request: Request) -> Response:
        return await run_in_threadpool(metrics_sync, request)

    # the reads back ends make most first: a request is matched against the routes in order
    hot_first = sorted(ENDPOINTS, key=lambda e: not e.on_loop)
    api: list[BaseRoute] = [Route(PREFIX + e.path, wrap(service, e), methods=[e.method], name=e.operation_id)
                            for e in hot_first]
    app_routes: list[BaseRoute] = [
        *api,
        Route(PREFIX + "/openapi.json", openapi, methods=["GET"], name="openapi"),
        Route("/health", health, methods=["GET"], name="health_root"),
        Route("/metrics", metrics, methods=["GET"], name="metrics"),  # Prometheus text, for an admin key
        Route("/connect/{token}", connect_page, methods=["GET", "POST"], name="connect"),
        Route("/oauth/callback", callback_page, methods=["GET"], name="oauth_callback"),
        Mount("/static", StaticFiles(directory=_HERE / "static"), name="static"),
        *routes,  # an embedding application's own routes
    ]

    async def on_problem(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, Problem)
        return problem_response(exc, request.url.path)

    async def on_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if request.url.path.startswith("/api/"):
            headers = dict(exc.headers or {})
            return problem_response(Problem(exc.status_code, str(exc.detail), headers=headers), request.url.path)
        return Response(str(exc.detail), status_code=exc.status_code, headers=exc.headers, media_type="text/plain")

    app = Starlette(routes=app_routes, exception_handlers={Problem: on_problem, HTTPException: on_http})
    app.state.service = service
    app.add_middleware(_Headers)
    return app
