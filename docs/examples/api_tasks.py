"""Worked examples of the Python API, one per task; docs/api.md shows each section, tests/test_docs_api.py runs it.

A sandbox OAuth2 provider on 127.0.0.1 stands in for a real one, and ``browser_approve`` for the person who
clicks "Allow" (in an application, ``open_url`` shows the URL to that person instead).
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from pathlib import Path

import requests
from fluxnex.testing.sandbox import SandboxProvider


def browser_approve(url: str) -> None:
    """What a person's browser does after they click "Allow": follow the provider's redirect to the callback."""
    consent = requests.get(url, allow_redirects=False, timeout=10)
    requests.get(consent.headers["Location"], timeout=10)


home = Path(tempfile.mkdtemp(prefix="fluxnex-api-example-"))
sandbox = SandboxProvider(expires_in=3600).start()
tenant_id = uuid.uuid4()

# -- task: Create a connection
from fluxnex import CredentialManager, ValidationError  # noqa: E402
from fluxnex.crypto import generate_key_line  # noqa: E402

keys = generate_key_line("k1")  # in production: FLUXNEX_ENCRYPTION_KEYS, kept in a secret store
mgr = CredentialManager(f"sqlite:///{home / 'fluxnex.db'}", keys)  # or postgresql+psycopg://...

# a static credential: validated against its type, stored encrypted
info = mgr.create_connection(tenant_id, "httpHeaderAuth", "Billing API", {"name": "X-Api-Key", "value": "k-123456"})
assert info.status.value == "ACTIVE"
try:
    mgr.create_connection(tenant_id, "httpHeaderAuth", "Broken", {"nmae": "X-Api-Key"})
except ValidationError as exc:
    print(exc.problems)  # [('nmae', 'unknown field')]

# an OAuth2 account: authorization code + PKCE through a loopback redirect
from fluxnex.connect import connect_oauth2  # noqa: E402

info = connect_oauth2(mgr, tenant_id, "oAuth2Api", "CRM", sandbox.oauth2_data(), open_url=browser_approve)
# or, for any standard provider without a plugin: endpoints from its metadata, a public PKCE client
sandbox.register_client("native-app", None)
connect_oauth2(mgr, tenant_id, None, "CRM (public client)", {"clientId": "native-app", "grantType": "pkce"},
               issuer=sandbox.url, open_url=browser_approve)

# -- task: Read a connection
data = mgr.get_connection(tenant_id, "CRM")  # a plain dict; the token is refreshed first when it is due
access_token = data["oauthTokenData"]["access_token"]
info = mgr.get_connection_info(tenant_id, "CRM")  # status, expiry, failures: no secrets
print(info.status.value, info.expires_at, [i.name for i in mgr.list_connections(tenant_id)])

# -- task: Use a session
session = mgr.session(tenant_id, "CRM")  # a requests.Session that authenticates every request
response = session.get(sandbox.api_url)
assert response.status_code == 200

# -- task: Reconnect an expired connection
from fluxnex import ConnectionExpired  # noqa: E402

sandbox.fail_next("invalid_grant")  # the provider revoked the grant
try:
    mgr.refresh_connection(tenant_id, "CRM")
except ConnectionExpired as exc:
    print(exc)  # ... has expired (...): reconnect it with `fluxnex connect --tenant ... --type oAuth2Api --name CRM`
    # in place: same id and creation time, stored client settings, new token, status ACTIVE
    info = connect_oauth2(mgr, tenant_id, None, "CRM", {}, reconnect=True, open_url=browser_approve)
assert mgr.get_connection_info(tenant_id, "CRM").status.value == "ACTIVE"
mgr.update_connection(tenant_id, "CRM", new_name="CRM (EU)")  # rename; `data=` changes values, token kept

# -- task: Rotate keys
from fluxnex.rotation import rotate_keys  # noqa: E402

new_keys = f"{generate_key_line('k2')},{keys}"  # the new primary first; the old key still decrypts
mgr.close()
mgr = CredentialManager(f"sqlite:///{home / 'fluxnex.db'}", new_keys)
result = rotate_keys(mgr.store, mgr.keyring)  # resumable, batched, safe beside readers and writers
print(f"{result.rotated} re-encrypted under {mgr.keyring.primary_kid}")
assert mgr.get_connection(tenant_id, "Billing API")["value"] == "k-123456"

# -- end
mgr.close()
sandbox.stop()
shutil.rmtree(home)
