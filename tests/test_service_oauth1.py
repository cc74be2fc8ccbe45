"""OAuth1 on the hosted connect pages over real HTTP (uvicorn on 127.0.0.1, the oauthlib-based provider): the
request token is fetched with the service's own callback, its secret waits encrypted beside the browser cookie,
the callback exchanges the verifier and stores (or reconnects in place) like the OAuth2 path; denials, failed
exchanges and unknown, reused or foreign tokens store nothing."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit, urlunsplit

import pytest
import requests
import sqlalchemy as sa
from fluxnex.contract.errors import FluxnexError
from fluxnex.storage.store import Status
from fluxnex.storage.store._service import hash_secret, oauth_state_table
from oauth1_provider import OAuth1Provider
from preauth_support import route_to
from service_support import *  # noqa: F403 - the deployment fixture
from service_support import Deployment, LiveService
from test_service_connect import RETURN, TENANT, connect_link, csrf_of, returned


@pytest.fixture
def service(deployment: Deployment) -> Iterator[LiveService]:
    with LiveService(deployment.manager, allowed_return_urls=(RETURN.rsplit("/", 1)[0],)) as svc:
        yield svc


@pytest.fixture
def provider() -> Iterator[OAuth1Provider]:
    with OAuth1Provider() as p:
        yield p


def _to_provider(svc: LiveService, browser: requests.Session, link: str, form: dict[str, str]) -> requests.Response:
    """Submit the form; the service's 303 to the provider's authorize page (request token fetched)."""
    page = browser.get(link, timeout=30)
    assert page.status_code == 200, page.text[:300]
    sent = browser.post(link, data={"csrf_token": csrf_of(page.text), **form}, allow_redirects=False, timeout=30)
    cookie = sent.headers.get("set-cookie", "")
    assert "fluxnex_oauth=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie, sent.text[:500]
    if sent.status_code == 200:  # an authUrl typed into the form: the page moves on (form-action did not name it)
        found = re.search(r'<a id="continue" href="([^"]+)"', sent.text)
        assert found and f'content="0; url={found.group(1)}"' in sent.text
        sent.headers["location"] = html.unescape(found.group(1))
        return sent
    assert sent.status_code == 303, sent.text[:500]
    return sent


def _approved(browser: requests.Session, to_provider: requests.Response, provider: OAuth1Provider) -> str:
    """The provider approves (its authorize page redirects): the callback URL it sends the browser to."""
    parts = urlsplit(to_provider.headers["location"])
    local = urlunsplit(parts._replace(scheme="http", netloc=provider.url.removeprefix("http://")))
    at_provider = browser.get(local, allow_redirects=False, timeout=30)
    assert at_provider.status_code == 302, at_provider.text[:300]
    return str(at_provider.headers["location"])


def _form(provider: OAuth1Provider) -> dict[str, str]:
    return {k: v for k, v in provider.settings().items() if k != "signatureMethod"}


def test_oauth1_connect_stores_then_reconnects_in_place(service: LiveService, provider: OAuth1Provider) -> None:
    link = connect_link(service, type="oAuth1Api", name="Legacy")
    browser = requests.Session()
    to_provider = _to_provider(service, browser, link, _form(provider))
    assert to_provider.status_code == 200  # authUrl typed into the form: the continue page, not a 303
    query = parse_qs(urlsplit(to_provider.headers["location"]).query)
    assert query["app"] == ["fluxnex"] and len(query["oauth_token"]) == 1  # authUrl's own query kept
    request_token = query["oauth_token"][0]
    assert provider.validator.request_tokens[request_token]["callback"] == service.url + "/oauth/callback"
    # what waits for the callback: the token only hashed, the secret only encrypted
    with service.manager.store.engine.connect() as conn:
        dump = " ".join(str(r) for r in conn.execute(sa.select(oauth_state_table)).fetchall())
    secret = provider.validator.request_tokens[request_token]["secret"]
    assert request_token not in dump and secret not in dump and hash_secret(request_token) in dump
    callback = _approved(browser, to_provider, provider)
    back = returned(browser.get(callback, allow_redirects=False, timeout=30))
    assert back["status"] == "ACTIVE" and provider.calls["/access_token"] == 1
    info = service.manager.get_connection_info(TENANT, "Legacy")
    assert str(info.id) == back["connection_id"]
    token = service.manager.get_connection(TENANT, "Legacy")["oauthTokenData"]
    assert token["oauth_token"] in provider.validator.access_tokens
    with service.manager.session(TENANT, "Legacy") as http:
        assert http.get(provider.url + "/resource").status_code == 200  # signed with the new access token
    replay = browser.get(callback, allow_redirects=False, timeout=30)  # the request token was used up
    assert replay.status_code == 400 and "already completed" in replay.text
    # reconnect: the same id, a new access token
    again = connect_link(service, connection_id=back["connection_id"])
    second = _to_provider(service, browser, again, {})
    assert second.status_code == 303  # the stored authUrl was in the form's form-action
    back2 = returned(browser.get(_approved(browser, second, provider), allow_redirects=False, timeout=30))
    assert back2["connection_id"] == back["connection_id"] and back2["status"] == "ACTIVE"
    renewed = service.manager.get_connection(TENANT, "Legacy")["oauthTokenData"]
    assert renewed["oauth_token"] != token["oauth_token"] and len(service.manager.list_connections(TENANT)) == 1


def test_oauth1_consumer_is_the_connections_own(service: LiveService, provider: OAuth1Provider) -> None:
    """Every request is signed with the consumer secret, by whichever process sends it: it is the connection's
    (an operator's OAuth app, inherited only where the service refreshes, does not fit OAuth1)."""
    with pytest.raises(FluxnexError, match="not OAuth2"):
        service.manager.oauth_apps.set("oAuth1Api", {"consumerKey": provider.consumer_key})
    link = connect_link(service, type="oAuth1Api", name="Own")
    browser = requests.Session()
    page = browser.get(link, timeout=30)
    assert 'name="consumerKey"' in page.text and 'name="consumerSecret"' in page.text
    back = returned(browser.get(_approved(browser, _to_provider(service, browser, link, _form(provider)), provider),
                                allow_redirects=False, timeout=30))
    again = browser.get(connect_link(service, connection_id=back["connection_id"]), timeout=30)
    assert provider.consumer_secret not in again.text  # a reconnect never renders the stored secret
    assert service.manager.get_connection(TENANT, "Own")["consumerSecret"] == provider.consumer_secret


def test_oauth1_provider_errors_show_a_page_and_store_nothing(service: LiveService,
                                                              provider: OAuth1Provider) -> None:
    link = connect_link(service, type="oAuth1Api", name="E")
    browser = requests.Session()
    # denied (X's form: denied=<request token>)
    token = parse_qs(urlsplit(_to_provider(service, browser, link, _form(provider)).headers["location"]).query)
    denied = browser.get(f"{service.url}/oauth/callback?denied={token['oauth_token'][0]}", allow_redirects=False,
                         timeout=30)
    assert denied.status_code == 400 and "Access denied" in denied.text
    # another browser (no cookie), then the exchange refused (the verifier was tampered with)
    to_provider = _to_provider(service, browser, link, _form(provider))
    callback = _approved(browser, to_provider, provider)
    other = requests.get(callback, allow_redirects=False, timeout=30)
    assert other.status_code == 400 and "another browser" in other.text
    to_provider = _to_provider(service, browser, link, _form(provider))
    tampered = _approved(browser, to_provider, provider).replace("oauth_verifier=", "oauth_verifier=x")
    failed = browser.get(tampered, allow_redirects=False, timeout=30)
    assert failed.status_code == 502 and "did not issue an access token" in failed.text
    assert provider.validator.consumer_secret not in failed.text
    unknown = browser.get(f"{service.url}/oauth/callback?oauth_token=forged&oauth_verifier=v", allow_redirects=False,
                          timeout=30)
    assert unknown.status_code == 400 and "unknown, expired" in unknown.text
    # a wrong consumer secret: the request token is refused, the page says so
    bad = browser.get(link, timeout=30)
    refused = browser.post(link, data={"csrf_token": csrf_of(bad.text), **_form(provider), "consumerSecret": "nope"},
                           allow_redirects=False, timeout=30)
    assert refused.status_code == 502 and "did not start the authorization" in refused.text
    assert service.manager.list_connections(TENANT) == []


def test_oauth1_catalog_child_with_its_fixed_endpoints(provider: OAuth1Provider, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from fluxnex.contract.plugins import reset_registry
    from fluxnex.testing.n8n_catalog import catalog_path

    monkeypatch.setenv("FLUXNEX_N8N_CATALOG", str(catalog_path()))
    reset_registry()
    deployment = Deployment(f"sqlite:///{tmp_path / 'catalog.db'}")
    try:
        route_to(deployment.manager.http, int(provider.url.rsplit(":", 1)[1]))
        with LiveService(deployment.manager, allowed_return_urls=("http://127.0.0.1:9/app",)) as svc:
            link = connect_link(svc, type="trelloOAuth1Api", name="Trello")
            browser = requests.Session()
            form = {"consumerKey": provider.consumer_key, "consumerSecret": provider.consumer_secret}
            to_provider = _to_provider(svc, browser, link, form)
            assert urlsplit(to_provider.headers["location"]).netloc == "trello.com"
            back = returned(browser.get(_approved(browser, to_provider, provider), allow_redirects=False, timeout=30))
            assert back["status"] == Status.ACTIVE.value
            assert deployment.manager.get_connection(TENANT, "Trello")["oauthTokenData"]["oauth_token"]
    finally:
        deployment.close()
        reset_registry()
