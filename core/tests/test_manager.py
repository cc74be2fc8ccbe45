"""CredentialManager CRUD, tenants, validation and secrecy on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from fluxnex.api.manager import ConnectionInfo, CredentialManager
from fluxnex.contract.errors import (
    ConnectionExists,
    ConnectionNotFound,
    FluxnexError,
    UnknownCredentialType,
    ValidationError,
)
from fluxnex.storage.store import Status
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lifecycle_support import *  # noqa: F403 - fixtures
from lifecycle_support import SMALL_TYPE, small_type_registry

HEADER = "httpHeaderAuth"
SECRET = "hdr-secret-5d1f0c8e7a"


@pytest.fixture
def mgr(make_manager: Any) -> CredentialManager:
    small_type_registry()
    m: CredentialManager = make_manager()
    return m


def rows(mgr: CredentialManager) -> list[tuple[Any, ...]]:
    """Every stored row as comparable tuples (the table's whole state)."""
    return [(r.id, r.name, r.version, json.dumps(r.data, sort_keys=True)) for r in mgr.store.list()]


def test_create_get_list_update_delete(mgr: CredentialManager) -> None:
    tenant = uuid.uuid4()
    info = mgr.create_connection(tenant, HEADER, "api", {"name": "X-Key", "value": SECRET})
    assert (info.type, info.name, info.status, info.tenant_id) == (HEADER, "api", Status.ACTIVE, tenant)
    assert mgr.get_connection(tenant, "api") == {"name": "X-Key", "value": SECRET}
    mgr.create_connection(tenant, SMALL_TYPE, "small", {"apiKey": "k-123456"})
    assert [i.name for i in mgr.list_connections(tenant)] == ["api", "small"]
    assert [i.name for i in mgr.list_connections(tenant, type=HEADER)] == ["api"]
    assert [i.name for i in mgr.list_connections(tenant, status="active")] == ["api", "small"]
    assert mgr.list_connections(tenant, status=Status.EXPIRED) == []
    with pytest.raises(FluxnexError, match="unknown status"):
        mgr.list_connections(tenant, status="bogus")

    before = mgr.store.get(tenant, "api")
    assert before is not None
    mgr.update_connection(tenant, "api", data={"name": "X-Other", "value": "new-value-1"})
    assert mgr.get_connection(tenant, "api") == {"name": "X-Other", "value": "new-value-1"}
    after = mgr.store.get(tenant, "api")
    assert after is not None and after.version == before.version + 1

    renamed = mgr.update_connection(tenant, "api", new_name="api2")
    assert renamed.name == "api2" and renamed.id == info.id
    with pytest.raises(ConnectionNotFound):
        mgr.get_connection(tenant, "api")
    snapshot = rows(mgr)
    with pytest.raises(ConnectionExists):
        mgr.update_connection(tenant, "api2", new_name="small")
    assert rows(mgr) == snapshot
    assert mgr.get_connection(tenant, "api2") == {"name": "X-Other", "value": "new-value-1"}

    mgr.delete_connection(tenant, "api2")
    with pytest.raises(ConnectionNotFound):
        mgr.get_connection(tenant, "api2")
    with pytest.raises(ConnectionNotFound):
        mgr.delete_connection(tenant, "api2")
    assert [i.name for i in mgr.list_connections(tenant)] == ["small"]


def test_tenants_are_isolated_and_parsed(mgr: CredentialManager) -> None:
    a, b = uuid.uuid4(), uuid.uuid4()
    mgr.create_connection(str(a), HEADER, "shared", {"name": "H", "value": "a-secret"})
    mgr.create_connection(b, HEADER, "shared", {"name": "H", "value": "b-secret"})  # same name, other tenant
    assert mgr.get_connection(a, "shared")["value"] == "a-secret"
    assert mgr.get_connection(str(b), "shared")["value"] == "b-secret"
    mgr.create_connection(a, HEADER, "only-a", {"name": "H", "value": "x"})
    for call in (
        lambda: mgr.get_connection(b, "only-a"),
        lambda: mgr.get_connection_info(b, "only-a"),
        lambda: mgr.update_connection(b, "only-a", data={"name": "H", "value": "y"}),
        lambda: mgr.delete_connection(b, "only-a"),
        lambda: mgr.session(b, "only-a"),
    ):
        with pytest.raises(ConnectionNotFound):
            call()
    assert [i.name for i in mgr.list_connections(b)] == ["shared"]
    assert mgr.get_connection(a, "only-a")["value"] == "x"
    with pytest.raises(FluxnexError) as caught:
        mgr.get_connection("not-a-uuid", "shared")
    assert type(caught.value) is FluxnexError
    assert "\n" not in str(caught.value) and "tenant_id must be a UUID" in str(caught.value)


def test_duplicate_name_keeps_the_first_row(mgr: CredentialManager) -> None:
    tenant = uuid.uuid4()
    mgr.create_connection(tenant, HEADER, "dup", {"name": "H", "value": "first"})
    snapshot = rows(mgr)
    with pytest.raises(ConnectionExists):
        mgr.create_connection(tenant, HEADER, "dup", {"name": "H", "value": "second"})
    assert rows(mgr) == snapshot
    assert mgr.get_connection(tenant, "dup")["value"] == "first"


def test_connection_info_has_no_secrets(mgr: CredentialManager) -> None:
    tenant = uuid.uuid4()
    info = mgr.create_connection(tenant, HEADER, "api", {"name": "X-Key", "value": SECRET})
    for shown in (repr(info), json.dumps(info.to_json()), repr(mgr.get_connection_info(tenant, "api"))):
        assert SECRET not in shown
    out = info.to_json()
    assert out["status"] == "ACTIVE" and out["tenant_id"] == str(tenant) and "data" not in out
    assert isinstance(ConnectionInfo.from_row(mgr.store.get(tenant, "api")), ConnectionInfo)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("data", "fields"),
    [
        ({}, {"apiKey"}),
        ({"apiKey": ""}, {"apiKey"}),
        ({"apiKey": 12}, {"apiKey"}),
        ({"apiKey": "k", "port": "443"}, {"port"}),
        ({"apiKey": "k", "verbose": "yes"}, {"verbose"}),
        ({"apiKey": "k", "region": "mars"}, {"region"}),
        ({"apiKey": "k", "unknownKey": 1}, {"unknownKey"}),
        ({"apiKey": "k", "extra": "{not json"}, {"extra"}),
        ({"apiKey": "k" * (64 * 1024 + 1)}, {"apiKey"}),
        ({"apiKey": 1, "port": "x", "region": "mars", "bogus": True, "extra": "[1,"},
         {"apiKey", "port", "region", "bogus", "extra"}),
    ],
)  # fmt: skip
def test_validation_failures_name_every_field_and_write_nothing(
    mgr: CredentialManager, data: dict[str, Any], fields: set[str]
) -> None:
    tenant = uuid.uuid4()
    with pytest.raises(ValidationError) as caught:
        mgr.create_connection(tenant, SMALL_TYPE, "bad", data)
    assert {field for field, _ in caught.value.problems} == fields
    for field in fields:
        assert field in str(caught.value)
    assert rows(mgr) == []
    # an update with the same bad data leaves a good row as it was
    mgr.create_connection(tenant, SMALL_TYPE, "good", {"apiKey": "good-key-1"})
    snapshot = rows(mgr)
    with pytest.raises(ValidationError):
        mgr.update_connection(tenant, "good", data=data)
    assert rows(mgr) == snapshot


def test_unknown_type_and_bad_names(mgr: CredentialManager) -> None:
    with pytest.raises(UnknownCredentialType):
        mgr.create_connection(uuid.uuid4(), "noSuchTypeApi", "x", {})
    for name in ("", "   ", "n" * 201):
        with pytest.raises(ValidationError):
            mgr.create_connection(uuid.uuid4(), HEADER, name, {"name": "H", "value": "v"})
    assert rows(mgr) == []


_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30)
_valid = st.fixed_dictionaries(
    {"apiKey": _text.filter(bool)},
    optional={
        "region": st.sampled_from(["eu", "us"]),
        "port": st.integers(-(2**31), 2**31) | st.floats(allow_nan=False, allow_infinity=False),
        "verbose": st.booleans(),
        "extra": st.sampled_from(["", "{}", '{"a": [1, 2]}', "[]", "3"]),
    },
)
_anything = st.none() | st.booleans() | st.integers() | _text | st.lists(st.integers(), max_size=2)
_maybe_invalid = st.dictionaries(
    st.sampled_from(["apiKey", "region", "port", "verbose", "extra", "other"]), _anything, max_size=5
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=_valid | _maybe_invalid)
def test_property_valid_data_round_trips_and_invalid_changes_nothing(
    mgr: CredentialManager, data: dict[str, Any]
) -> None:
    tenant = uuid.uuid4()
    before = rows(mgr)
    try:
        mgr.create_connection(tenant, SMALL_TYPE, "p", data)
    except ValidationError as exc:
        assert exc.problems
        assert rows(mgr) == before
        return
    expected = {"region": "eu", "port": 443, "verbose": False, "extra": "", **data}
    assert mgr.get_connection(tenant, "p") == expected
    mgr.delete_connection(tenant, "p")
