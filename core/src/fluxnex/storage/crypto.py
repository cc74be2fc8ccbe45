"""AES-256-GCM envelopes bound to (tenant, connection id, type, name), and the keyring of named keys.

An envelope is ``{"v": 2, "kid": <key id>, "n": <urlsafe-b64 nonce>, "ct": <urlsafe-b64 ciphertext+tag>}``.
The associated data makes a ciphertext copied to another row, tenant, type or name fail authentication
(:class:`RowBinding`). Version 1 envelopes (bound to tenant, id and type only) still decrypt; they are
written again as version 2 on the row's next write or by ``fluxnex keys rotate``. Each key has a
fingerprint (HMAC-SHA256 keyed by the key itself, over a fixed label and the kid): it identifies the key
without revealing anything about it, so the database can record which key each kid stands for.
"""

from __future__ import annotations

import base64
import binascii
import datetime as _dt
import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from uuid import UUID

import attrs
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from fluxnex.contract.errors import ConfigurationError, DecryptionError

__all__ = [
    "ENVELOPE_VERSION", "Keyring", "RowBinding", "associated_data", "envelope_kid", "envelope_version",
    "generate_key_line",
]

ENVELOPE_VERSION = 2
_AAD_PREFIX = b"fluxnex:v1\x00"
_AAD_PREFIX_V2 = b"fluxnex:v2\x00"
_FINGERPRINT_LABEL = b"fluxnex key fingerprint v1\x00"
_NONCE_BYTES = 12
_KEY_BYTES = 32
_KID_RE = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
_KID_RULE = "use letters, digits, '.', '_' or '-' (1-64)"
_KEY_TEXT_RE = re.compile(r"[A-Za-z0-9_-]{43}=?")
_KEY_RULE = "must be exactly 32 bytes in urlsafe base64 (43 characters of A-Z a-z 0-9 - _, optionally one '=')"


def associated_data(tenant_id: UUID, connection_id: UUID, type_name: str) -> bytes:
    """Return the unambiguous associated data binding a ciphertext to its tenant, row and type."""
    return _AAD_PREFIX + tenant_id.bytes + connection_id.bytes + type_name.encode("utf-8")


@attrs.frozen
class RowBinding:
    """What a connection's ciphertext is bound to: tenant, row id, type and (from envelope version 2) name."""

    tenant_id: UUID
    connection_id: UUID
    type_name: str
    name: str

    def aad(self, version: int) -> bytes:
        """The associated data of an envelope of ``version`` (1: without the name)."""
        if version == 1:
            return associated_data(self.tenant_id, self.connection_id, self.type_name)
        type_bytes = self.type_name.encode("utf-8")
        return (_AAD_PREFIX_V2 + self.tenant_id.bytes + self.connection_id.bytes
                + len(type_bytes).to_bytes(4, "big") + type_bytes + self.name.encode("utf-8"))


def envelope_version(envelope: Mapping[str, Any]) -> object:
    """The ``v`` of an envelope (None when it has none)."""
    return envelope.get("v") if isinstance(envelope, Mapping) else None


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii")


def _b64decode(text: str) -> bytes:
    padded = text + "=" * (-len(text) % 4)
    return base64.urlsafe_b64decode(padded.encode("ascii"))


def generate_key_line(kid: str | None = None) -> str:
    """Return a new ``kid:key`` line holding 32 random bytes (kid defaults to ``k<date>-<random>``)."""
    if kid is None:
        kid = "k" + _dt.datetime.now(_dt.UTC).strftime("%Y%m%d") + "-" + secrets.token_hex(3)
    if not _KID_RE.match(kid):
        raise ConfigurationError(f"invalid key id {kid!r}: {_KID_RULE}")
    return f"{kid}:{_b64encode(os.urandom(_KEY_BYTES))}"


def envelope_kid(envelope: Mapping[str, Any]) -> str | None:
    """Return the key id an envelope was encrypted under, or None when it has none."""
    kid = envelope.get("kid") if isinstance(envelope, Mapping) else None
    return kid if isinstance(kid, str) else None


class Keyring:
    """Named AES-256 keys: the first (primary) encrypts, every key decrypts."""

    __slots__ = ("_aead", "_fingerprints", "_kids", "_primary")

    def __init__(self, keys: Mapping[str, bytes] | list[tuple[str, bytes]]) -> None:
        """Build a keyring from ``(kid, 32-byte key)`` pairs, primary first."""
        pairs = list(keys.items()) if isinstance(keys, Mapping) else list(keys)
        if not pairs:
            raise ConfigurationError("the encryption keyring is empty: give at least one 'kid:key'")
        aead: dict[str, AESGCM] = {}
        fingerprints: dict[str, str] = {}
        for kid, key in pairs:
            if not _KID_RE.match(kid):
                raise ConfigurationError(f"invalid key id {kid!r}: {_KID_RULE}")
            if kid in aead:
                raise ConfigurationError(f"duplicate key id {kid!r} in the encryption keyring")
            if len(key) != _KEY_BYTES:
                raise ConfigurationError(f"key {kid!r} is {len(key)} bytes long; AES-256 needs {_KEY_BYTES} bytes")
            aead[kid] = AESGCM(key)
            fingerprints[kid] = hmac.new(key, _FINGERPRINT_LABEL + kid.encode(), hashlib.sha256).hexdigest()[:32]
        self._aead = aead
        self._fingerprints = fingerprints
        self._kids = tuple(kid for kid, _ in pairs)
        self._primary = self._kids[0]

    @classmethod
    def parse(cls, spec: str) -> Keyring:
        """Parse ``"kid1:<urlsafe-b64 32 bytes>,kid2:..."`` (commas or newlines separate keys)."""
        pairs: list[tuple[str, bytes]] = []
        for position, item in enumerate(re.split(r"[,\n\r]+", spec), start=1):
            item = item.strip()
            if not item or item.startswith("#"):
                continue
            kid, sep, material = item.partition(":")
            kid, material = kid.strip(), material.strip()
            if not sep or not kid or not material:
                raise ConfigurationError(f"encryption key #{position} is not of the form 'kid:base64key'")
            key = _strict_key(kid, material)
            pairs.append((kid, key))
        return cls(pairs)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> Keyring:
        """Read a keyring spec from a file, one key a line or comma separated."""
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            message = f"cannot read encryption key file {str(path)!r}: {exc.strerror}"
            raise ConfigurationError(message) from None
        return cls.parse(text)

    def fingerprint(self, kid: str) -> str:
        """The fingerprint of key ``kid`` (a keyed hash: it reveals nothing about the key)."""
        return self._fingerprints[kid]

    @property
    def primary_kid(self) -> str:
        """The key id that encrypts."""
        return self._primary

    @property
    def kids(self) -> tuple[str, ...]:
        """Every key id, primary first."""
        return self._kids

    def __repr__(self) -> str:
        return f"Keyring(kids={list(self._kids)!r}, primary={self._primary!r})"

    def encrypt(self, plaintext: bytes, aad: bytes | RowBinding) -> dict[str, Any]:
        """Encrypt under the primary key with a fresh 96-bit nonce and return the envelope.

        A :class:`RowBinding` gives a current (version 2) envelope; raw associated data a version 1 one.
        """
        version, nonce, ct = self._seal(plaintext, aad)
        return {"v": version, "kid": self._primary, "n": nonce, "ct": ct}

    def encrypt_json(self, plaintext: bytes, binding: RowBinding) -> str:
        """:meth:`encrypt`'s current envelope as its compact JSON text (what the database stores), built directly.

        Nothing in it needs escaping: the kid matched ``_KID_RE`` when the keyring was built and the nonce and
        ciphertext are urlsafe base64, so the text is what ``json.dumps(..., separators=(",", ":"))`` writes.
        """
        version, nonce, ct = self._seal(plaintext, binding)
        return f'{{"v":{version},"kid":"{self._primary}","n":"{nonce}","ct":"{ct}"}}'

    def _seal(self, plaintext: bytes, aad: bytes | RowBinding) -> tuple[int, str, str]:
        """Encrypt under the primary key with a fresh nonce: the envelope version, base64 nonce and ciphertext."""
        nonce = os.urandom(_NONCE_BYTES)
        version = ENVELOPE_VERSION if isinstance(aad, RowBinding) else 1
        raw_aad = aad.aad(version) if isinstance(aad, RowBinding) else aad
        ct = self._aead[self._primary].encrypt(nonce, plaintext, raw_aad)
        return version, _b64encode(nonce), _b64encode(ct)

    def decrypt(self, envelope: Mapping[str, Any], aad: bytes | RowBinding, *, what: str) -> bytes:
        """Decrypt an envelope; DecryptionError names ``what`` and the key id on any failure.

        With a :class:`RowBinding` both envelope versions decrypt; raw associated data only version 1.
        """
        try:
            version = envelope["v"]
            kid = envelope["kid"]
            n_text = envelope["n"]
            ct_text = envelope["ct"]
        except (KeyError, TypeError):
            raise DecryptionError(f"cannot decrypt {what}: malformed envelope (missing fields)") from None
        known = (1, ENVELOPE_VERSION) if isinstance(aad, RowBinding) else (1,)
        if isinstance(version, bool) or version not in known:
            raise DecryptionError(f"cannot decrypt {what}: unsupported envelope version {version!r}")
        raw_aad = aad.aad(version) if isinstance(aad, RowBinding) else aad
        if not isinstance(kid, str) or not isinstance(n_text, str) or not isinstance(ct_text, str):
            raise DecryptionError(f"cannot decrypt {what}: malformed envelope (field types)")
        aead = self._aead.get(kid)
        if aead is None:
            raise DecryptionError(f"cannot decrypt {what}: key {kid!r} is not in the keyring")
        try:
            nonce = _b64decode(n_text)
            ct = _b64decode(ct_text)
        except (binascii.Error, ValueError):
            raise DecryptionError(f"cannot decrypt {what}: malformed envelope (bad base64)") from None
        if len(nonce) != _NONCE_BYTES:
            raise DecryptionError(f"cannot decrypt {what}: malformed envelope (nonce length)")
        try:
            return aead.decrypt(nonce, ct, raw_aad)
        except InvalidTag:
            raise DecryptionError(
                f"cannot decrypt {what} with key {kid!r}: authentication failed "
                "(wrong key, tampered data, or ciphertext moved from another connection or name)"
            ) from None


def _strict_key(kid: str, material: str) -> bytes:
    """The 32 bytes of ``material``, which must be canonical urlsafe base64 and nothing else."""
    if not _KEY_TEXT_RE.fullmatch(material):
        raise ConfigurationError(f"key {kid!r} {_KEY_RULE}")
    try:
        key = base64.urlsafe_b64decode(material.rstrip("=") + "=")
    except (binascii.Error, ValueError):
        raise ConfigurationError(f"key {kid!r} {_KEY_RULE}") from None
    if len(key) != _KEY_BYTES or _b64encode(key).rstrip("=") != material.rstrip("="):
        raise ConfigurationError(f"key {kid!r} {_KEY_RULE}")  # e.g. a last character with stray low bits
    return key
