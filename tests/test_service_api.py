"""The connect service's HTTP API against a real uvicorn on 127.0.0.1: every endpoint, every auth failure, scopes,
tenant isolation, the rate limit, problem JSON, and the OpenAPI document matching the routes."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator

import pytest
import requests
from fluxnex.api.manager import CredentialManager
from fluxnex.testing.sandbox import SandboxProvider
from service_support import *  # noqa: F403 - the deployment fixture
from service_support import Deployment, LiveService, bearer, create_key, get
from starlette.routing import Route

TENANT = uuid.UUID("00000000-0000-4000-8000-0000000000a1")
OTHER = uuid.UUID("00000000-0000-4000-8000-0000000000b2")
ALL = ("admin",)
RETURN = "http://127.0.0.1:9/app/done"
SECRET = "s3cr3t-token-value-xyz"


@pytest.fixture
def service(deployment: Deployment) -> Iterator[LiveService]:
    with LiveService(deployment.manager, allowed_return_urls=("http://127.0.0.1:9/app",),
                     rate_limit=(1000, 60.0)) as svc:
        svc.env = deployment.env  # type: ignore[attr-defined]
        yield svc


def _revenova(svc: LiveService, key: str, name: str = "Revenova", tenant: uuid.UUID = TENANT) -> dict:
    r = requests.post(svc.api(f"/tenants/{tenant}/connections"), headers=bearer(key), timeout=30,
                      json={"type": "revenovaApi", "name": name,
                            "data": {"instanceUrl": "https://example.my.salesforce.com", "accessToken": SECRET}})
    assert r.status_code == 201, r.text
    return r.json()


def test_health_on_both_paths(service: LiveService) -> None:
    for url in (service.url + "/health", service.api("/health")):
        r = get(url)
        assert r.status_code == 200
        assert r.json()["status"] == "ok" and r.json()["revision"] == r.json()["head"] == "0007"
        assert r.headers["x-content-type-options"] == "nosniff"


def test_auth_failures_are_problems(service: LiveService) -> None:
    url = service.api("/types")
    missing = get(url)
    assert missing.status_code == 401
    assert missing.headers["content-type"] == "application/problem+json"
    assert missing.headers["www-authenticate"].startswith("Bearer")
    body = missing.json()
    assert body["status"] == 401 and body["title"] == "Unauthorized" and "\n" not in body["detail"]
    assert get(url, headers=bearer("fnx_not-a-key")).status_code == 401
    assert get(url, headers={"Authorization": "Basic abc"}).status_code == 401
    key = create_key(service.manager, "connections:read")
    assert get(url, headers=bearer(key)).status_code == 200
    record = json.loads(subprocess.run(["fluxnex", "api-keys", "list", "--json"], capture_output=True, text=True,
                                       check=True, env=_env(service)).stdout)
    key_id = next(k["id"] for k in record if key.startswith(k["prefix"]))
    subprocess.run(["fluxnex", "api-keys", "revoke", key_id], check=True, env=_env(service),
                   capture_output=True)
    revoked = get(url, headers=bearer(key))
    assert revoked.status_code == 401 and "revoked" in revoked.json()["detail"]


def _env(svc: LiveService) -> dict[str, str]:
    env: dict[str, str] = svc.env  # type: ignore[attr-defined]
    return env


def test_scopes(service: LiveService) -> None:
    reader = create_key(service.manager, "connections:read")
    writer = create_key(service.manager, "connections:write")
    admin = create_key(service.manager, *ALL)
    created = _revenova(service, writer)
    base = service.api(f"/tenants/{TENANT}/connections/{created['id']}")
    assert get(base, headers=bearer(reader)).status_code == 200
    forbidden = get(base + "/credentials", headers=bearer(reader))
    assert forbidden.status_code == 403 and "credentials:read" in forbidden.json()["detail"]
    assert requests.delete(base, headers=bearer(reader), timeout=30).status_code == 403
    assert requests.post(service.api("/connect-sessions"), headers=bearer(reader), timeout=30,
                         json={"tenant_id": str(TENANT), "type": "revenovaApi", "name": "x",
                               "return_url": RETURN}).status_code == 403
    assert get(base + "/credentials", headers=bearer(admin)).json()["accessToken"] == SECRET


def test_tenant_bound_key_sees_only_its_tenant(service: LiveService) -> None:
    admin = create_key(service.manager, *ALL)
    mine = _revenova(service, admin, tenant=TENANT)
    theirs = _revenova(service, admin, tenant=OTHER)
    bound = create_key(service.manager, *ALL, tenant=TENANT)
    assert get(service.api(f"/tenants/{TENANT}/connections/{mine['id']}"), headers=bearer(bound)).status_code == 200
    for url in (f"/tenants/{OTHER}/connections", f"/tenants/{OTHER}/connections/{theirs['id']}",
                f"/tenants/{OTHER}/connections/{theirs['id']}/credentials",
                f"/tenants/{TENANT}/connections/{theirs['id']}"):  # another tenant's id under my tenant
        r = get(service.api(url), headers=bearer(bound))
        assert r.status_code == 404, url
        assert SECRET not in r.text
    session = requests.post(service.api("/connect-sessions"), headers=bearer(bound), timeout=30,
                            json={"tenant_id": str(OTHER), "type": "revenovaApi", "name": "n", "return_url": RETURN})
    assert session.status_code == 404


def test_connection_crud_and_no_secrets_outside_credentials(service: LiveService) -> None:
    key = create_key(service.manager, *ALL)
    h = bearer(key)
    created = _revenova(service, key)
    assert created["status"] == "ACTIVE" and created["type"] == "revenovaApi"
    cid = created["id"]
    base = service.api(f"/tenants/{TENANT}/connections")
    bad = requests.post(base, headers=h, timeout=30, json={"type": "revenovaApi", "name": "Bad", "data": {}})
    assert bad.status_code == 422
    assert bad.headers["content-type"] == "application/problem+json"
    assert {"field": "accessToken", "message": "is required"} in bad.json()["errors"]
    assert requests.post(base, headers=h, timeout=30, json={"type": "nope", "name": "x"}).status_code == 422
    assert requests.post(base, headers=h, timeout=30, data="[1]").status_code == 422
    dup = requests.post(base, headers=h, timeout=30, json={"type": "revenovaApi", "name": "Revenova",
                                                             "data": {"accessToken": "t"}})
    assert dup.status_code == 409
    listed = get(base, headers=h).json()
    assert [c["name"] for c in listed] == ["Revenova"]
    assert get(base + "?name=Revenova", headers=h).json()[0]["id"] == cid
    assert get(base + "?name=Other", headers=h).json() == []
    assert get(base + "?type=revenovaApi&status=ACTIVE", headers=h).json()[0]["id"] == cid
    assert get(base + "?status=EXPIRED", headers=h).json() == []
    assert get(base + "?status=WHATEVER", headers=h).status_code == 400
    one = get(f"{base}/{cid}", headers=h)
    assert one.json()["name"] == "Revenova"
    renamed = requests.patch(f"{base}/{cid}", headers=h, timeout=30, json={"name": "Revenova Prod"})
    assert renamed.status_code == 200 and renamed.json()["name"] == "Revenova Prod" and renamed.json()["id"] == cid
    new_data = {"instanceUrl": "https://example.my.salesforce.com", "accessToken": "rotated-" + SECRET}
    patched = requests.patch(f"{base}/{cid}", headers=h, timeout=30, json={"data": new_data})
    assert patched.status_code == 200
    creds = get(f"{base}/{cid}/credentials", headers=h)
    assert creds.json()["accessToken"] == "rotated-" + SECRET
    assert creds.headers["cache-control"] == "no-store"
    for text in (created, listed, one.json(), renamed.json(), patched.json()):
        assert SECRET not in json.dumps(text)
    tested = requests.post(f"{base}/{cid}/test", headers=h, timeout=30)
    assert tested.status_code == 200 and set(tested.json()) == {"ok", "message", "status_code"}
    assert SECRET not in tested.text
    not_refreshable = requests.post(f"{base}/{cid}/refresh", headers=h, timeout=30)
    assert not_refreshable.status_code == 409
    assert requests.delete(f"{base}/{cid}", headers=h, timeout=30).status_code == 204
    assert get(f"{base}/{cid}", headers=h).status_code == 404
    assert get(f"{base}/not-a-uuid", headers=h).status_code == 404
    assert get(service.api("/tenants/not-a-uuid/connections"), headers=h).status_code == 404


def test_refresh_and_fresh_credentials(service: LiveService, sandbox_provider: SandboxProvider) -> None:
    key = create_key(service.manager, *ALL)
    tokens = sandbox_provider.issue_tokens()
    data = {**sandbox_provider.oauth2_data(), "oauthTokenData": tokens}
    info = service.manager.create_connection(TENANT, "oAuth2Api", "Sandbox", data)
    base = service.api(f"/tenants/{TENANT}/connections/{info.id}")
    refreshed = requests.post(base + "/refresh", headers=bearer(key), timeout=30)
    assert refreshed.status_code == 200, refreshed.text
    assert refreshed.json()["last_refreshed_at"] is not None
    assert tokens["access_token"] not in refreshed.text and "sandbox-secret" not in refreshed.text
    assert sandbox_provider.token_requests_for(tokens["refresh_token"]) == 1
    creds = get(base + "/credentials", headers=bearer(key)).json()
    assert creds["oauthTokenData"]["access_token"] != tokens["access_token"]
    assert sandbox_provider.is_active(creds["oauthTokenData"]["access_token"])


def test_types(service: LiveService) -> None:
    key = create_key(service.manager, "connections:read")
    names = [t["name"] for t in get(service.api("/types"), headers=bearer(key)).json()]
    assert {"revenovaApi", "quickBooksOAuth2Api", "oAuth2Api"} <= set(names)
    detail = get(service.api("/types/quickBooksOAuth2Api"), headers=bearer(key)).json()
    props = {p["name"]: p for p in detail["properties"]}
    assert detail["oauth2"] and "clientSecret" in props and props["clientSecret"]["secret"]  # after extends
    assert props["environment"]["options"][0] == {"name": "Production", "value": "production"}
    assert detail["json_schema"]["properties"]["environment"]["enum"] == ["production", "sandbox"]
    assert detail["json_schema"]["properties"]["clientSecret"]["writeOnly"] is True
    assert get(service.api("/types/nope"), headers=bearer(key)).status_code == 404


def test_connect_session_return_url_checked(service: LiveService) -> None:
    key = create_key(service.manager, "connect:create")
    url = service.api("/connect-sessions")
    body = {"tenant_id": str(TENANT), "type": "revenovaApi", "name": "New"}
    for bad in ("https://evil.example/app", "http://127.0.0.1:9/application", "http://127.0.0.1:9/ap", "javascript:x"):
        r = requests.post(url, headers=bearer(key), json={**body, "return_url": bad}, timeout=30)
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "return_url", bad
    ok = requests.post(url, headers=bearer(key), json={**body, "return_url": RETURN}, timeout=30)
    assert ok.status_code == 201
    assert ok.json()["url"] == f"{service.url}/connect/{ok.json()['token']}"
    assert get(ok.json()["url"]).status_code == 200
    assert requests.post(url, headers=bearer(key), json={**body, "type": "nope", "return_url": RETURN},
                         timeout=30).status_code == 422
    gone = requests.post(url, headers=bearer(key), timeout=30,
                         json={"tenant_id": str(TENANT), "connection_id": str(uuid.uuid4()), "return_url": RETURN})
    assert gone.status_code == 404


def test_rate_limit_answers_429_with_retry_after(fluxnex_manager: CredentialManager) -> None:
    with LiveService(fluxnex_manager, rate_limit=(3, 60.0)) as svc:
        key = create_key(fluxnex_manager, "connections:read")
        other = create_key(fluxnex_manager, "connections:read")
        codes = [get(svc.api("/types"), headers=bearer(key)).status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        limited = get(svc.api("/types"), headers=bearer(key))
        assert limited.status_code == 429 and 1 <= int(limited.headers["retry-after"]) <= 60
        assert limited.headers["content-type"] == "application/problem+json"
        assert get(svc.api("/types"), headers=bearer(other)).status_code == 200  # per key


def test_openapi_document_matches_the_routes(service: LiveService) -> None:
    doc = get(service.api("/openapi.json")).json()
    assert doc["openapi"] == "3.1.0"
    documented = {(m.upper(), "/api/v1" + p) for p, ops in doc["paths"].items() for m in ops}
    served = {(m, r.path) for r in service.app.routes if isinstance(r, Route) and r.path.startswith("/api/v1")
              and r.path != "/api/v1/openapi.json" for m in (r.methods or ()) if m != "HEAD"}
    assert documented == served
    for ops in doc["paths"].values():
        for op in ops.values():
            for ref in json.dumps(op).split('"$ref": "')[1:]:
                assert ref.split('"')[0].removeprefix("#/components/schemas/") in doc["components"]["schemas"]


def test_cli_api_keys_create_prints_the_key_once(service: LiveService) -> None:
    env = _env(service)
    out = subprocess.run(["fluxnex", "api-keys", "create", "--name", "ci", "--tenant", str(TENANT),
                          "--scope", "connections:read", "--json"], capture_output=True, text=True, env=env,
                         check=True)
    created = json.loads(out.stdout)
    assert created["key"].startswith("fnx_") and created["tenant_id"] == str(TENANT)
    assert get(service.api(f"/tenants/{TENANT}/connections"), headers=bearer(created["key"])).status_code == 200
    listed = subprocess.run(["fluxnex", "api-keys", "list", "--json"], capture_output=True, text=True, env=env,
                            check=True).stdout
    assert created["key"] not in listed and created["id"] in listed
    bad = subprocess.run(["fluxnex", "api-keys", "revoke", "nope"], capture_output=True, text=True, env=env)
    assert bad.returncode == 1 and bad.stderr.count("\n") == 1 and "UUID" in bad.stderr
    assert created["key"] not in service.manager.store.engine.url.render_as_string()


def test_importing_the_manager_loads_no_web_stack() -> None:
    code = (
        "import sys, fluxnex\n"
        "fluxnex.CredentialManager\n"
        "import fluxnex.api.manager, fluxnex.storage.oauth_apps, fluxnex.cli.service\n"
        "web = sorted(m for m in sys.modules if m.split('.')[0] in ('starlette', 'uvicorn', 'jinja2', 'multipart',"
        " 'python_multipart') or m.startswith('fluxnex.server'))\n"
        "print(web)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_metrics_for_an_admin_key_of_no_tenant(service: LiveService) -> None:
    """The service's /metrics is the worker's Prometheus registry; it spans tenants: an admin key of no tenant."""
    from prometheus_client.parser import text_string_to_metric_families

    tenant = uuid.uuid4()
    service.manager.create_connection(tenant, "revenovaApi", "Metered", {"accessToken": "tok-metrics-12345"})
    url = service.url + "/metrics"
    assert get(url).status_code == 401
    assert get(url, headers=bearer(create_key(service.manager, "connections:read"))).status_code == 403
    bound = get(url, headers=bearer(create_key(service.manager, "admin", tenant=tenant)))
    assert bound.status_code == 403 and "every tenant" in bound.json()["detail"]
    r = get(url, headers=bearer(create_key(service.manager, "admin")))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(r.text)}
    active = [s.value for s in families["fluxnex_connections"].samples if s.labels.get("status") == "ACTIVE"]
    assert active == [1.0]
    assert "fluxnex_db_pool_size" in families and "tok-metrics-12345" not in r.text
