"""Tests of the AES-256-GCM keyring, envelopes and the config module's keyring loading."""

from __future__ import annotations

import base64
import json
import logging
import os
import stat
import threading
import uuid
from pathlib import Path

import pytest
from fluxnex.contract.errors import ConfigurationError, DecryptionError
from fluxnex.storage import config
from fluxnex.storage.crypto import Keyring, RowBinding, associated_data, generate_key_line

T1, T2 = uuid.uuid4(), uuid.uuid4()
C1, C2 = uuid.uuid4(), uuid.uuid4()
SECRET = b'{"clientSecret": "s3cr3t-value"}'


def _key(kid: str, byte: int = 7, length: int = 32) -> str:
    return f"{kid}:{base64.urlsafe_b64encode(bytes([byte]) * length).decode()}"


@pytest.fixture
def ring() -> Keyring:
    return Keyring.parse(generate_key_line("k1"))


def test_roundtrip_and_fresh_nonce(ring: Keyring) -> None:
    aad = associated_data(T1, C1, "oAuth2Api")
    a, b = ring.encrypt(SECRET, aad), ring.encrypt(SECRET, aad)
    assert set(a) == {"v", "kid", "n", "ct"} and a["v"] == 1 and a["kid"] == "k1"
    assert a["n"] != b["n"] and a["ct"] != b["ct"]
    assert len(base64.urlsafe_b64decode(a["n"])) == 12
    assert ring.decrypt(a, aad, what="x") == SECRET
    assert b"s3cr3t" not in json.dumps(a).encode()


@pytest.mark.parametrize("kid", ["k1", "a.b_c-D9", "x" * 64])
def test_encrypt_json_is_the_compact_json_of_a_current_envelope(kid: str) -> None:
    ring = Keyring.parse(generate_key_line(kid))
    binding = RowBinding(T1, C1, "oAuth2Api", 'name "quoted" \\ ünïcode')
    text = ring.encrypt_json(SECRET, binding)
    envelope = json.loads(text)
    assert text == json.dumps(envelope, separators=(",", ":"))  # nothing to escape, written as json would
    assert list(envelope) == ["v", "kid", "n", "ct"] and envelope["v"] == 2 and envelope["kid"] == kid
    assert ring.decrypt(envelope, binding, what="x") == SECRET
    assert json.loads(ring.encrypt_json(SECRET, binding))["n"] != envelope["n"]


@pytest.mark.parametrize(
    "aad",
    [
        associated_data(T1, C2, "oAuth2Api"),  # copied to another row
        associated_data(T2, C1, "oAuth2Api"),  # copied to another tenant
        associated_data(T1, C1, "httpHeaderAuth"),  # relabelled as another type
    ],
)
def test_moved_ciphertext_fails(ring: Keyring, aad: bytes) -> None:
    env = ring.encrypt(SECRET, associated_data(T1, C1, "oAuth2Api"))
    with pytest.raises(DecryptionError, match=r"connection 'c' .*key 'k1'.*authentication failed"):
        ring.decrypt(env, aad, what="connection 'c'")


def test_associated_data_is_unambiguous() -> None:
    assert associated_data(T1, C1, "ab") != associated_data(T1, C1, "a")
    assert associated_data(T1, C1, "x") != associated_data(C1, T1, "x")


@pytest.mark.parametrize("field", ["n", "ct"])
def test_flipped_byte_fails(ring: Keyring, field: str) -> None:
    aad = associated_data(T1, C1, "t")
    env = ring.encrypt(SECRET, aad)
    raw = bytearray(base64.urlsafe_b64decode(env[field]))
    raw[len(raw) // 2] ^= 0x01
    tampered = dict(env, **{field: base64.urlsafe_b64encode(bytes(raw)).decode()})
    with pytest.raises(DecryptionError, match="authentication failed"):
        ring.decrypt(tampered, aad, what="connection 'c'")


def test_unknown_kid_and_wrong_key(ring: Keyring) -> None:
    aad = associated_data(T1, C1, "t")
    env = Keyring.parse(_key("k2")).encrypt(SECRET, aad)
    with pytest.raises(DecryptionError, match=r"connection 'c' \(id 1\).*key 'k2' is not in the keyring"):
        ring.decrypt(env, aad, what="connection 'c' (id 1)")
    other = Keyring.parse(_key("k1", byte=9))
    with pytest.raises(DecryptionError, match="key 'k1': authentication failed"):
        other.decrypt(ring.encrypt(SECRET, aad), aad, what="c")


@pytest.mark.parametrize(
    "env",
    [{}, {"v": 1, "kid": "k1", "n": "AAAA"}, {"v": 2, "kid": "k1", "n": "AAAA", "ct": "AAAA"}, "x"],
)
def test_malformed_envelope(ring: Keyring, env: object) -> None:
    with pytest.raises(DecryptionError, match="cannot decrypt c"):
        ring.decrypt(env, b"", what="c")  # type: ignore[arg-type]


def test_keyring_rotation_semantics() -> None:
    old = Keyring.parse(_key("old", 1))
    both = Keyring.parse(_key("new", 2) + "," + _key("old", 1))
    aad = associated_data(T1, C1, "t")
    env = old.encrypt(SECRET, aad)
    assert both.primary_kid == "new" and both.kids == ("new", "old")
    assert both.decrypt(env, aad, what="c") == SECRET
    assert both.encrypt(SECRET, aad)["kid"] == "new"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "empty"),
        ("k1", "form 'kid:base64key'"),
        ("k1:@@@@not-base64!!", "must be exactly 32 bytes in urlsafe base64"),
        (_key("k1", length=16), "must be exactly 32 bytes"),
        (_key("k1", length=33), "must be exactly 32 bytes"),
        (_key("k1")[:12] + "!" + _key("k1")[13:], "must be exactly 32 bytes"),  # junk inside
        (_key("k1").rstrip("=") + "junk", "must be exactly 32 bytes"),  # junk after
        (_key("k1").rstrip("=") + "==", "must be exactly 32 bytes"),
        (_key("k1")[:-2].rstrip("=") + "+", "must be exactly 32 bytes"),  # standard, not urlsafe, alphabet

        (_key("k1") + "," + _key("k1", 3), "duplicate key id 'k1'"),
        ("bad kid:" + _key("x").split(":")[1], "invalid key id"),
    ],
)
def test_parse_errors_never_echo_key_material(spec: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message) as info:
        Keyring.parse(spec)
    material = spec.split(":", 1)[1] if ":" in spec else ""
    if material:
        assert material not in str(info.value)


def test_repr_shows_kids_only() -> None:
    line = generate_key_line("k1")
    ring = Keyring.parse(line)
    assert "k1" in repr(ring) and line.split(":")[1] not in repr(ring)


def test_from_file_and_generated_lines(tmp_path: Path) -> None:
    line = generate_key_line()
    kid = line.split(":")[0]
    assert kid.startswith("k") and len(base64.urlsafe_b64decode(line.split(":")[1])) == 32
    path = tmp_path / "keys"
    path.write_text(f"# keys\n{line}\n{_key('older')}\n")
    ring = Keyring.from_file(path)
    assert ring.kids == (kid, "older")
    with pytest.raises(ConfigurationError, match="cannot read encryption key file"):
        Keyring.from_file(tmp_path / "missing")


# -- config ---------------------------------------------------------------------------------------


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in ("FLUXNEX_DATABASE_URL", "FLUXNEX_ENCRYPTION_KEYS", "FLUXNEX_ENCRYPTION_KEY_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("FLUXNEX_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def test_database_url_precedence(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    default = config.database_url()
    assert default == f"sqlite:///{env}/fluxnex.db" and config.is_embedded_default(default)
    monkeypatch.setenv("FLUXNEX_DATABASE_URL", "postgresql+psycopg://u:pw@h/db")
    assert config.database_url() == "postgresql+psycopg://u:pw@h/db"
    assert config.database_url("sqlite:////x.db") == "sqlite:////x.db"
    assert not config.is_embedded_default("postgresql+psycopg://u:pw@h/db")
    assert not config.is_embedded_default("sqlite:////elsewhere/fluxnex.db")
    assert "pw" not in config.redact_url("postgresql+psycopg://u:pw@h/db")


def test_embedded_key_file_generated_0600_and_reused(env: Path, caplog: pytest.LogCaptureFixture) -> None:
    url = config.database_url()
    with caplog.at_level(logging.WARNING, logger="fluxnex"):
        first = config.load_keyring(url)
    key_file = env / "fluxnex.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert str(key_file) in caplog.text
    assert key_file.read_text().split(":")[1].strip() not in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="fluxnex"):
        second = config.load_keyring(url)
    assert caplog.text == ""
    aad = associated_data(T1, C1, "t")
    assert second.decrypt(first.encrypt(SECRET, aad), aad, what="c") == SECRET


def test_racing_key_file_creators_share_one_key(env: Path) -> None:
    path = env / "race" / "fluxnex.key"
    barrier = threading.Barrier(8)
    results: list[str] = []

    def create() -> None:
        barrier.wait()
        config.ensure_key_file(path)
        results.append(path.read_text())

    threads = [threading.Thread(target=create) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(results)) == 1 and results[0].strip()
    assert os.listdir(path.parent) == ["fluxnex.key"]


def test_keyring_precedence_and_missing_key(env: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    pg = "postgresql+psycopg://u:pw@h/db"
    with pytest.raises(ConfigurationError, match=r"no encryption key configured.*FLUXNEX_ENCRYPTION_KEYS") as info:
        config.load_keyring(pg)
    assert "pw" not in str(info.value)
    with pytest.raises(ConfigurationError):
        config.load_keyring(f"sqlite:///{tmp_path}/other.db")
    key_file = tmp_path / "k"
    key_file.write_text(_key("fromfile"))
    key_file.chmod(0o600)  # a key file others can read is refused (test_keys_cannot_change)
    monkeypatch.setenv("FLUXNEX_ENCRYPTION_KEY_FILE", str(key_file))
    assert config.load_keyring(pg).kids == ("fromfile",)
    monkeypatch.setenv("FLUXNEX_ENCRYPTION_KEYS", _key("fromenv"))
    assert config.load_keyring(pg).kids == ("fromenv",)
    assert config.load_keyring(pg, _key("explicit")).kids == ("explicit",)
    ring = Keyring.parse(_key("obj"))
    assert config.load_keyring(pg, ring) is ring
    assert not (env / "fluxnex.key").exists()
