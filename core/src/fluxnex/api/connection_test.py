"""``CredentialManager.test_connection``: check a connection's credentials as n8n's credential tester does.

Order: a plugin's ``test_connection`` hook answers first. Otherwise the type's declarative ``test.request`` is
resolved against the effective data (``fluxnex.n8n.authenticate``), sent through the connection's authenticated
session (``baseURL`` + ``url``, ``method`` default GET, ``headers``, ``qs``, ``body``) and judged by n8n's
rules: an error response whose status equals a ``responseCode`` rule fails with that rule's message; any
other status outside 2xx fails with the reason phrase (unless ``ignoreHttpStatusErrors``); a 2xx body whose
``responseSuccessBody`` key (a lodash path) strictly equals the rule's value fails with its message. A type
without a test request that extends ``oAuth2Api`` passes when it holds an access token (n8n's OAuth2 test).
Types n8n authenticates or tests in code are reported as needing a plugin, never as working.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

import attrs

from fluxnex.n8n.authenticate import effective_data, has_code_authentication, js_string, resolve_test_request
from fluxnex.n8n.display_options import lodash_get

if TYPE_CHECKING:
    import requests

    from fluxnex.contract.plugins import TypeRegistry
    from fluxnex.contract.schema import CredentialType

__all__ = ["TestResult", "check_connection", "judge", "not_connected", "request_url"]

SUCCESS: Final = "Connection successful!"
OAUTH2_OK: Final = "Connection Successful!"
OAUTH2_NOT_CONNECTED: Final = "This OAuth2 credential was not connected to an account."
_ABSOLUTE = re.compile(r"^([a-z][a-z\d+\-.]*:)?//", re.IGNORECASE)


@attrs.frozen
class TestResult:
    """The outcome of a connection test; ``message`` never holds a secret."""

    __test__ = False  # not a pytest class

    ok: bool
    message: str
    status_code: int | None = None
    needs_plugin: bool = False


def request_url(base_url: Any, url: Any) -> str:
    """axios' URL of ``baseURL`` + ``url``: an absolute ``url`` wins, else the two are joined by one slash."""
    base = "" if base_url is None else js_string(base_url)
    rel = "" if url is None else js_string(url)
    if _ABSOLUTE.match(rel) or not base:
        return rel
    if not rel:
        return base
    return re.sub(r"/?/$", "", base) + "/" + re.sub(r"^/+", "", rel)


def judge(test: Mapping[str, Any], request: Mapping[str, Any], response: requests.Response) -> TestResult:
    """Apply n8n's credential-test rules to ``response``."""
    from fluxnex.n8n.expressions import UNDEFINED
    from fluxnex.n8n.expressions._jsvalues import strict_equals

    status = response.status_code
    rules = [r for r in test.get("rules") or [] if isinstance(r, Mapping)]
    is_error = not 200 <= status < 300 and not request.get("ignoreHttpStatusErrors")
    if is_error:
        for rule in rules:
            props = rule.get("properties") or {}
            if rule.get("type") == "responseCode" and strict_equals(status, props.get("value", UNDEFINED)):
                return TestResult(False, str(props.get("message", "")), status)
        if status < 199 or status > 299:
            return TestResult(False, response.reason or f"Received HTTP status code: {status}", status)
    try:
        body: Any = response.json()
    except ValueError:
        body = response.text
    first = body[0] if isinstance(body, list) and body else body
    for rule in rules:
        props = rule.get("properties") or {}
        if rule.get("type") == "responseSuccessBody" and strict_equals(
            lodash_get(first, props.get("key")), props.get("value", UNDEFINED)
        ):
            return TestResult(False, str(props.get("message", "")), status)
    return TestResult(True, SUCCESS, status)


def _send(session: requests.Session, request: Mapping[str, Any], timeout: float) -> requests.Response:
    method = js_string(request.get("method") or "GET").upper()
    url = request_url(request.get("baseURL"), request.get("url"))
    headers = {str(k): js_string(v) for k, v in (request.get("headers") or {}).items()}
    params = {str(k): js_string(v) for k, v in (request.get("qs") or {}).items()}
    kwargs: dict[str, Any] = {"headers": headers, "params": params, "timeout": timeout}
    body = request.get("body")
    if isinstance(body, str) and body:
        kwargs["data"] = body.encode()
    elif isinstance(body, Mapping | list) and body:
        if "form-urlencoded" in headers.get("Content-Type", headers.get("content-type", "")):
            kwargs["data"] = {str(k): js_string(v) for k, v in body.items()} if isinstance(body, Mapping) else body
        else:
            kwargs["data"] = json.dumps(body).encode()
            headers.setdefault("Content-Type", "application/json")
    if request.get("skipSslCertificateValidation") is True:
        kwargs["verify"] = False
    return session.request(method, url, **kwargs)


def _needs_plugin(ct: CredentialType, why: str) -> TestResult:
    return TestResult(False, f"credential type {ct.name!r}: {why}; install a plugin that implements it", None,
                      needs_plugin=True)


def not_connected(exc: Exception) -> TestResult:
    """The result for a connection that holds no token yet (``NotConnected``), with the command to connect it."""
    how = str(exc).partition(": connect it with ")[2]
    return TestResult(False, f"{OAUTH2_NOT_CONNECTED} Connect it with {how}.", None)


def check_connection(
    ct: CredentialType, data: Mapping[str, Any], *, registry: TypeRegistry, session: requests.Session,
    http_timeout: float,
) -> TestResult:
    """Test a connection of type ``ct`` holding ``data`` through its authenticated ``session`` (closed after).

    See the module docstring; ``CredentialManager.test_connection`` reads the connection and calls this.
    """
    import requests

    try:
        answer = registry.hook.test_connection(credential_type=ct, data=dict(data), http=session)
        if answer is not None:
            ok, message = answer
            return TestResult(bool(ok), str(message), None)
        is_oauth2 = registry.is_a(ct.name, "oAuth2Api")
        test = ct.test or {}
        request = resolve_test_request(ct, effective_data(ct, data, oauth=is_oauth2))
        if request is None:
            if is_oauth2:
                token = data.get("oauthTokenData")
                has_token = isinstance(token, Mapping) and "access_token" in token
                return TestResult(has_token, OAUTH2_OK if has_token else OAUTH2_NOT_CONNECTED, None)
            return _needs_plugin(ct, "n8n tests it in code (no declarative test request)")
        if has_code_authentication(ct) and not is_oauth2 and not _code_authenticated(ct) \
                and not _plugin_authenticates(registry, ct, data):
            return _needs_plugin(ct, "n8n authenticates it in code (its authenticate block is a function)")
        try:
            response = _send(session, request, http_timeout)
        except requests.RequestException as exc:
            return TestResult(False, _network_error(exc, request), None)
        with response:
            return judge(test, request, response)
    finally:
        session.close()


def _code_authenticated(ct: CredentialType) -> bool:
    """Whether core implements the type's n8n ``authenticate`` code (``fluxnex.n8n.code_auth``)."""
    from fluxnex.n8n.code_auth import get_implementation

    return get_implementation(ct.name) is not None


def _plugin_authenticates(registry: Any, ct: CredentialType, data: Mapping[str, Any]) -> bool:
    import requests

    probe = requests.Request("GET", "http://fluxnex.invalid/").prepare()
    return registry.hook.authenticate(credential_type=ct, data=dict(data), request=probe) is not None


def _network_error(exc: Exception, request: Mapping[str, Any]) -> str:
    """A one-line network failure naming the host only (URLs can carry tokens in their query)."""
    host = urlsplit(request_url(request.get("baseURL"), request.get("url"))).netloc.rsplit("@", 1)[-1]
    return f"request to {host or 'the service'} failed: {type(exc).__name__}"

