"""The hosted connect pages: ``GET|POST /connect/{token}`` (the form) and ``GET /oauth/callback``.

A connect session is single use: it is claimed (an UPDATE one caller wins) only when the connection is about to
be stored, so a validation error leaves the link usable. OAuth2 types: the form's values are checked, then the
browser goes to the provider with a fresh ``state`` (32 random bytes, stored hashed, single use, 10 minutes,
bound to this browser by an HttpOnly SameSite=Lax cookie) and PKCE S256; the callback exchanges the code, runs
the plugins' token-response checks (``check_token_response``: QuickBooks' realmId, Salesforce's instance_url)
and stores the connection (a reconnect keeps its id). OAuth1 types (``oAuth1Api`` and the types extending it):
the server asks for a request token with ``oauth_callback`` = ``/oauth/callback``, keeps the request token's
secret and the form's values encrypted exactly as an OAuth2 state (the request token, hashed, is its key; single
use, 10 minutes, the same browser cookie), sends the browser to ``authUrl?oauth_token=...``, and the callback
(``oauth_token`` and ``oauth_verifier``) exchanges them for the access token (``fluxnex.lifecycle.oauth1``).
Every failure shows a page and stores nothing.
"""

from __future__ import annotations

import hmac
import json
import secrets
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from fluxnex.contract.errors import FluxnexError, ValidationError
from fluxnex.storage.oauth_apps import inherit, strip_inherited
from fluxnex.storage.store._service import ConnectSession, hash_secret, new_secret

from ._forms import build_fields, form_properties, hidden_values, parse_form

if TYPE_CHECKING:
    from fluxnex.contract.schema import CredentialType

    from ._service import Service

__all__ = ["callback_page", "connect_page"]

CSRF_COOKIE = "fluxnex_csrf"
BROWSER_COOKIE = "fluxnex_oauth"
OAUTH2_BASE = "oAuth2Api"
OAUTH1_BASE = "oAuth1Api"


class PageError(Exception):
    """Show a message page (status, title, text) instead of the form."""

    def __init__(self, status: int, title: str, text: str, detail: str | None = None) -> None:
        super().__init__(title)
        self.status, self.title, self.text, self.detail = status, title, text, detail


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def page(service: Service, template: str, status: int = 200, form_targets: tuple[str, ...] = (),
         **context: Any) -> HTMLResponse:
    """Render a page with its Content-Security-Policy (no inline script; forms post only where they must)."""
    html = service.templates.get_template(template).render(base=service.config.base, **context)
    targets = " ".join(dict.fromkeys(_origin(t) for t in form_targets))
    csp = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; base-uri 'none'; "
           f"form-action 'self' {targets}".rstrip() + f"; frame-ancestors {service.config.frame_ancestors}")
    return HTMLResponse(html, status_code=status, headers={"Content-Security-Policy": csp, "Cache-Control": "no-store"})


def message(service: Service, err: PageError) -> HTMLResponse:
    """The page of a ``PageError``."""
    return page(service, "message.html", err.status, title=err.title, text=err.text, detail=err.detail)


def _usable_session(service: Service, token: str) -> ConnectSession:
    session = service.rows.session_by_token(token)
    if session is None:
        raise PageError(404, "Link not valid", "This connect link is not valid.")
    if session.used_at is not None:
        raise PageError(410, "Link already used", "This connect link has already been used.")
    if not session.usable:
        raise PageError(410, "Link expired", "This connect link has expired.")
    return session


class _Flow:
    """One connect session's type, inherited OAuth app settings and stored values (on a reconnect)."""

    def __init__(self, service: Service, session: ConnectSession) -> None:
        manager = service.manager
        self.service, self.session = service, session
        self.ct: CredentialType = manager.credential_type(session.type)
        self.oauth = manager.registry.is_a(self.ct.name, OAUTH2_BASE)
        self.oauth1 = manager.registry.is_a(self.ct.name, OAUTH1_BASE)
        self.app = manager.oauth_apps.settings_for(self.ct.name, session.tenant_id)
        self.stored: dict[str, Any] = {}
        if session.connection_id is not None:
            row = manager.store.get_by_id(session.connection_id)
            if row is None or row.tenant_id != session.tenant_id:
                raise PageError(404, "Connection gone", "The connection to reconnect no longer exists.")
            self.stored = {k: v for k, v in manager.decrypt(row).items() if k != "oauthTokenData"}
        self.name = session.name or ""

    def render(self, token: str, csrf: str, values: dict[str, Any], errors: dict[str, str],
               general: list[str], status: int = 200) -> HTMLResponse:
        secrets_stored = frozenset(k for k, v in self.stored.items() if self.ct.is_secret(k) and v not in (None, ""))
        shown_values = {k: v for k, v in values.items() if not self.ct.is_secret(k)}
        fields = build_fields(self.ct, self.app, shown_values, errors, secrets_stored)
        hidden = hidden_values(self.ct, form_properties(self.ct, self.app), {**self.app, **shown_values})
        hidden = {k: v for k, v in hidden.items() if k not in self.app}  # the operator's settings stay private
        response = page(self.service, "connect.html", status, form_targets=self.targets(),
                        type_display=self.ct.display_name, name=self.name, reconnect=bool(self.stored),
                        oauth=self.oauth or self.oauth1, token=token, csrf=csrf, fields=fields, general_errors=general,
                        hidden_values_json=json.dumps(hidden, default=str))
        return response

    def targets(self) -> tuple[str, ...]:
        targets = [self.session.return_url]
        if self.oauth or self.oauth1:  # the form's 303 goes on to the provider: form-action must allow it
            auth_url = inherit(self.app, {**self.ct.defaults(), **self.stored}, self.ct).get("authUrl")
            if isinstance(auth_url, str) and auth_url:
                targets.append(auth_url)
        return tuple(t for t in targets if urlsplit(t).scheme in ("http", "https"))


def _finish(service: Service, session: ConnectSession, flow: _Flow, data: dict[str, Any]) -> Response:
    """Claim the session, store (or reconnect in place), and redirect to return_url with id and status."""
    manager = service.manager
    if not service.rows.claim_session(session.id):
        raise PageError(410, "Link already used", "This connect link has already been used.")
    try:
        if session.connection_id is not None:
            row = manager.store.get_by_id(session.connection_id)
            if row is None:
                raise PageError(404, "Connection gone", "The connection to reconnect no longer exists.")
            info = manager.update_connection(session.tenant_id, row.name, data=data)
        else:
            info = manager.create_connection(session.tenant_id, flow.ct.name, flow.name, data)
    except BaseException:
        service.rows.release_session(session.id)
        raise
    return redirect_back(session.return_url, str(info.id), info.status.value)


def redirect_back(return_url: str, connection_id: str, status: str) -> RedirectResponse:
    """303 to ``return_url`` with ``connection_id`` and ``status`` added to its query."""
    parts = urlsplit(return_url)
    query = urlencode([*parse_qsl(parts.query, keep_blank_values=True),
                       ("connection_id", connection_id), ("status", status)])
    return RedirectResponse(urlunsplit(parts._replace(query=query)), status_code=303)


def _csrf_cookie(service: Service, response: Response, token: str, csrf: str) -> Response:
    response.set_cookie(CSRF_COOKIE, csrf, max_age=int(service.config.session_ttl),
                        path=f"{service.config.path}/connect/{token}",
                        httponly=True, samesite="strict", secure=service.config.secure_cookies)
    return response


def _show(service: Service, token: str) -> Response:
    try:
        session = _usable_session(service, token)
        flow = _Flow(service, session)
    except PageError as err:
        return message(service, err)
    except FluxnexError as exc:  # the type's plugin is gone, the stored data no longer decrypts, ...
        return message(service, PageError(500, "Cannot connect", "This connection cannot be set up right now.",
                                          str(exc)[:300]))
    csrf = secrets.token_urlsafe(32)
    values = {**flow.stored}
    return _csrf_cookie(service, flow.render(token, csrf, values, {}, []), token, csrf)


def _submit(service: Service, token: str, form: Any, csrf_cookie: str | None) -> Response:
    try:
        session = _usable_session(service, token)
        flow = _Flow(service, session)
        sent = str(form.get("csrf_token") or "")
        if not csrf_cookie or not hmac.compare_digest(sent.encode(), csrf_cookie.encode()):
            raise PageError(403, "Form expired", "This form could not be verified (CSRF check failed): reload "
                            "the connect link and submit again.")
        values, errors = parse_form(flow.ct, flow.app, form, flow.stored)
        general: list[str] = []
        if not errors:
            try:
                service.manager.validated(flow.ct, session.tenant_id, {k: v for k, v in values.items()})
            except ValidationError as exc:
                shown = {p.name for p in form_properties(flow.ct, flow.app)}
                for field, text in exc.problems:
                    if field in shown:
                        errors.setdefault(field, text)
                    else:
                        general.append(f"{field}: {text}")
        if errors or general:
            csrf = csrf_cookie or ""
            return flow.render(token, csrf, values, errors, general or ["Please correct the fields marked below."],
                               status=422)
        if flow.oauth1:
            return _start_oauth1(service, session, flow, values)
        if flow.oauth and not _client_credentials(flow, values):
            return _start_oauth(service, session, flow, values)
        if flow.oauth:
            values = _client_credentials_token(service, flow, values)
        return _finish(service, session, flow, values)
    except PageError as err:
        return message(service, err)
    except FluxnexError as exc:
        return message(service, PageError(400, "Could not connect", "The connection could not be stored.",
                                          str(exc)[:300]))


def _client_credentials(flow: _Flow, values: dict[str, Any]) -> bool:
    effective = flow.ct.effective_data(inherit(flow.app, values, flow.ct))
    return effective.get("grantType") == "clientCredentials"


def _client_credentials_token(service: Service, flow: _Flow, values: dict[str, Any]) -> dict[str, Any]:
    from fluxnex.lifecycle import oauth2

    manager = service.manager
    try:
        token = oauth2.client_credentials(flow.ct.effective_data(inherit(flow.app, values, flow.ct)), http=manager.http,
                                          timeout=manager.http_timeout)
    except FluxnexError as exc:
        raise PageError(502, "The provider refused", "The provider did not issue a token.", str(exc)[:300]) from None
    return {**values, "oauthTokenData": token["oauthTokenData"]}


def _start_oauth(service: Service, session: ConnectSession, flow: _Flow, values: dict[str, Any]) -> Response:
    from fluxnex.lifecycle import oauth2

    settings = service.manager.validated(flow.ct, session.tenant_id, values)
    effective = flow.ct.effective_data(inherit(flow.app, settings, flow.ct))
    redirect_uri = f"{service.config.base}/oauth/callback"
    try:
        request = oauth2.authorization_url(effective, redirect_uri)
    except FluxnexError as exc:
        raise PageError(400, "Not configured", "This connection cannot be authorized.", str(exc)[:300]) from None
    state = new_secret()
    parts = urlsplit(request.url)
    query = [(k, state if k == "state" else v) for k, v in parse_qsl(parts.query, keep_blank_values=True)]
    url = urlunsplit(parts._replace(query=urlencode(query)))
    return _park(service, flow, state, {"verifier": request.code_verifier, "values": values}, url)


def _start_oauth1(service: Service, session: ConnectSession, flow: _Flow, values: dict[str, Any]) -> Response:
    """OAuth1's first leg with the service's callback; the request token's secret waits encrypted, like a state."""
    from fluxnex.lifecycle import oauth1

    manager = service.manager
    settings = manager.validated(flow.ct, session.tenant_id, values)
    effective = oauth1.effective_data(flow.ct, inherit(flow.app, settings, flow.ct))
    try:
        temporary = oauth1.request_token(effective, f"{service.config.base}/oauth/callback", http=manager.http,
                                         timeout=manager.http_timeout)
    except FluxnexError as exc:
        raise PageError(502, "The provider refused", "The provider did not start the authorization.",
                        str(exc)[:300]) from None
    url = oauth1.authorization_url(str(effective.get("authUrl") or ""), temporary["oauth_token"])
    return _park(service, flow, temporary["oauth_token"], {"oauth1": temporary, "values": values}, url)


def _park(service: Service, flow: _Flow, state: str, payload: dict[str, Any], url: str) -> Response:
    """Store ``payload`` encrypted under ``state`` (hashed, single use, expiring, bound to a new browser cookie)
    and send the browser to the provider's ``url``: a 303 when the form's ``form-action`` named its origin, else
    (an authorization URL typed into the form) a page that moves on by itself, which no form-action restricts."""
    manager = service.manager
    browser = new_secret()
    manager.key_guard.check(manager.store, manager.keyring)
    envelope = manager.keyring.encrypt(json.dumps(payload, default=str).encode(), _state_aad(state))
    service.rows.create_state(state=state, session_id=flow.session.id, browser=browser, envelope=envelope,
                              ttl_seconds=service.config.state_ttl)
    if _origin(url) in {_origin(t) for t in flow.targets()}:
        response: Response = RedirectResponse(url, status_code=303)
    else:
        response = page(service, "continue.html", url=url)
    response.set_cookie(BROWSER_COOKIE, browser, max_age=int(service.config.state_ttl),
                        path=f"{service.config.path}/oauth/callback",
                        httponly=True, samesite="lax", secure=service.config.secure_cookies)
    return response


def _state_aad(state: str) -> bytes:
    return b"fluxnex-oauth-state\x00" + hash_secret(state).encode()


def _callback(service: Service, params: dict[str, str], browser: str | None) -> Response:
    from fluxnex.lifecycle import oauth2
    from fluxnex.lifecycle.oauth2_metadata import check_issuer

    manager = service.manager
    try:
        # OAuth2 comes back with its state; OAuth1 with the request token (X's denial: denied=<request token>)
        state = params.get("state") or params.get("oauth_token") or params.get("denied") or ""
        taken = service.rows.take_state(state) if state else None
        if taken is None:
            raise PageError(400, "Authorization not recognised",
                            "This authorization is unknown, expired or was already completed.")
        if not browser or not hmac.compare_digest(hash_secret(browser), taken.browser_hash):
            raise PageError(400, "Different browser", "This authorization was started in another browser.")
        session = service.rows.session_by_id(taken.session_id)
        if session is None or not session.usable:
            raise PageError(410, "Link expired", "The connect link of this authorization has expired or was used.")
        flow = _Flow(service, session)
        payload = json.loads(manager.keyring.decrypt(taken.data, _state_aad(state), what="an OAuth state"))
        values: dict[str, Any] = payload["values"]
        if "oauth1" in payload:
            return _finish_oauth1(service, session, flow, payload["oauth1"], values, params)
        if "error" in params:
            reason = params.get("error_description") or params["error"]
            title = "Access denied" if params["error"] == "access_denied" else "Authorization failed"
            raise PageError(400, title, "The provider did not grant access.", f"{params['error']}: {reason}"[:300])
        settings = manager.validated(flow.ct, session.tenant_id, values)
        effective = flow.ct.effective_data(inherit(flow.app, settings, flow.ct))
        effective.setdefault("oauthServer", settings.get("oauthServer"))
        problem = check_issuer(effective, params)
        if problem is not None:
            raise PageError(400, "Authorization failed", "The redirect did not come from the expected provider.",
                            problem)
        code = params.get("code")
        if not code:
            raise PageError(400, "Authorization failed", "The provider sent no authorization code.")
        extra = {k: v for k, v in params.items() if k not in ("code", "state", "iss")}
        try:
            token = oauth2.exchange_code(effective, code=code, redirect_uri=f"{service.config.base}/oauth/callback",
                                         code_verifier=payload["verifier"], http=manager.http,
                                         callback_params=extra or None, timeout=manager.http_timeout)
            full = {**settings, "oauthTokenData": token["oauthTokenData"]}
            checked = manager.registry.hook.check_token_response(credential_type=flow.ct, data=full)
        except FluxnexError as exc:
            raise PageError(502, "Connection failed", "The provider did not issue a usable token.",
                            str(exc)[:300]) from None
        final = strip_inherited(flow.app, settings, full if checked is None else checked, flow.ct)
        return _finish(service, session, flow, final)
    except PageError as err:
        return message(service, err)
    except FluxnexError as exc:
        return message(service, PageError(400, "Could not connect", "The connection could not be stored.",
                                          str(exc)[:300]))


def _finish_oauth1(service: Service, session: ConnectSession, flow: _Flow, temporary: dict[str, str],
                   values: dict[str, Any], params: dict[str, str]) -> Response:
    """OAuth1's last leg: the verifier exchanged for the access token, then stored as the OAuth2 path stores."""
    from fluxnex.lifecycle import oauth1

    manager = service.manager
    problem = oauth1.callback_problem(params, temporary["oauth_token"])
    if problem is not None:
        denied = "denied" in params or "error" in params
        raise PageError(400, "Access denied" if denied else "Authorization failed",
                        "The provider did not grant access." if denied else "The provider's answer was incomplete.",
                        problem)
    settings = manager.validated(flow.ct, session.tenant_id, values)
    effective = oauth1.effective_data(flow.ct, inherit(flow.app, settings, flow.ct))
    try:
        access = oauth1.access_token(effective, temporary, params["oauth_verifier"], http=manager.http,
                                     timeout=manager.http_timeout)
    except FluxnexError as exc:
        raise PageError(502, "Connection failed", "The provider did not issue an access token.",
                        str(exc)[:300]) from None
    final = strip_inherited(flow.app, settings, {**settings, "oauthTokenData": access}, flow.ct)
    return _finish(service, session, flow, final)


async def connect_page(request: Request) -> Response:
    """``GET|POST /connect/{token}``."""
    service: Service = request.app.state.service
    token = request.path_params["token"]
    if request.method == "GET":
        return await run_in_threadpool(_show, service, token)
    form = await request.form(max_files=0, max_fields=200)
    return await run_in_threadpool(_submit, service, token, form, request.cookies.get(CSRF_COOKIE))


async def callback_page(request: Request) -> Response:
    """``GET /oauth/callback``."""
    service: Service = request.app.state.service
    params = dict(request.query_params)
    return await run_in_threadpool(_callback, service, params, request.cookies.get(BROWSER_COOKIE))
