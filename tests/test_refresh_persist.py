"""Persist-first: the database is unavailable right after a successful refresh; nothing is lost.

How the outage is made, for real:
- SQLite: another connection holds ``BEGIN EXCLUSIVE`` for 3 s from the moment the token request reaches the
  sandbox (which answers after 1 s). The manager's write waits on SQLite's busy timeout and lands when the lock
  goes; the caller gets the fresh token, and the file holds it.
- PostgreSQL: another connection holds ``LOCK TABLE connection IN ACCESS EXCLUSIVE MODE`` for 5 s while the
  manager's connections run with ``lock_timeout=300ms``: every write (and read) in that window fails with
  LockNotAvailable, so the inline write retries run out and the background writer takes over. The caller still
  gets the fresh token; once the lock goes, the same manager hands out that token again without a second
  refresh (its refresh token is already spent: a second refresh would revoke the grant), and the row ends up
  holding it.
"""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid
from typing import Any

import pytest
from fluxnex.storage.store import Status
from fluxnex.testing.sandbox import SandboxProvider
from lifecycle_support import *  # noqa: F403 - fixtures
from lifecycle_support import oauth_data, pg_conninfo, wait_for
from sqlalchemy.engine import make_url


class Outage:
    """Make the database unavailable for ``seconds`` from another connection, in a thread."""

    def __init__(self, url: str, seconds: float) -> None:
        self.url, self.seconds = url, seconds
        self.taken = threading.Event()
        self.released = threading.Event()
        self.thread = threading.Thread(target=self._run)

    def start(self) -> None:
        self.thread.start()
        assert self.taken.wait(10)

    def _run(self) -> None:
        parsed = make_url(self.url)
        if parsed.get_backend_name() == "sqlite":
            conn = sqlite3.connect(str(parsed.database), isolation_level=None)
            conn.execute("BEGIN EXCLUSIVE")
            self.taken.set()
            time.sleep(self.seconds)
            conn.execute("COMMIT")
            conn.close()
        else:
            import psycopg

            with psycopg.connect(pg_conninfo(self.url)) as conn:
                conn.execute("LOCK TABLE connection IN ACCESS EXCLUSIVE MODE")
                self.taken.set()
                time.sleep(self.seconds)
                conn.commit()
        self.released.set()


@pytest.mark.slow
def test_fresh_token_survives_a_database_outage_after_the_refresh(
    db_url: str, make_manager: Any, sandbox: SandboxProvider
) -> None:
    sqlite = db_url.startswith("sqlite")
    url = db_url
    if not sqlite:
        options = make_url(db_url).query["options"]
        url = (
            make_url(db_url)
            .update_query_dict({"options": f"{options} -clock_timeout=300"})
            .render_as_string(hide_password=False)
        )
    mgr = make_manager(url=url)
    tenant = uuid.uuid4()
    data = oauth_data(sandbox, expires_in=1)
    old = data["oauthTokenData"]
    mgr.create_connection(tenant, "oAuth2Api", "c", data)
    sandbox.configure(latency=1.0)

    got: dict[str, Any] = {}

    def caller() -> None:
        try:
            got["data"] = mgr.get_connection(tenant, "c")
        except BaseException as exc:
            got["error"] = exc

    thread = threading.Thread(target=caller)
    thread.start()
    wait_for(lambda: sandbox.token_requests_for(old["refresh_token"]) == 1, 10, "the token request")
    outage = Outage(db_url, 3.0 if sqlite else 5.0)
    outage.start()
    thread.join(timeout=30)
    assert "error" not in got, got.get("error")
    fresh = got["data"]["oauthTokenData"]
    assert fresh["access_token"] != old["access_token"] and sandbox.is_active(fresh["access_token"])
    if not sqlite:
        assert not outage.released.is_set()  # the caller was served during the outage
    assert outage.released.wait(15)
    outage.thread.join()

    # right after the outage, the same process serves the same token without refreshing again
    assert mgr.get_connection(tenant, "c")["oauthTokenData"]["access_token"] == fresh["access_token"]

    def stored_token() -> str | None:
        row = mgr.store.get(tenant, "c")
        assert row is not None
        token = mgr.decrypt(row)["oauthTokenData"]
        return str(token["access_token"]) if row.lease_owner is None else None

    assert wait_for(lambda: stored_token() == fresh["access_token"], 20, "the new token in the database")
    assert sandbox.token_requests_for(old["refresh_token"]) == 1
    assert sandbox.token_requests.get("refresh_token") == 1
    assert sandbox.is_active(fresh["refresh_token"])
    info = mgr.get_connection_info(tenant, "c")
    assert info.status == Status.ACTIVE and info.last_refreshed_at is not None
