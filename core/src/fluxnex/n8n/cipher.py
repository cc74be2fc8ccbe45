"""n8n's credential encryption: AES-256-CBC in OpenSSL's ``Salted__`` format, key and IV from EVP_BytesToKey (MD5).

The encryption key string becomes bytes one byte per UTF-16 code unit (its low 8 bits, Node's ``binary``
encoding, which is Latin-1 for characters below 256). A wrong key usually fails the padding check, but about
one time in 256 it decrypts to garbage with valid padding, so the result must also be a JSON object.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from typing import Any, Final

from fluxnex.contract.errors import DecryptionError

__all__ = ["decrypt_n8n", "encrypt_n8n", "evp_bytes_to_key", "key_bytes"]

_MAGIC: Final = b"Salted__"


def key_bytes(key: str) -> bytes:
    """The bytes n8n derives from its key string (``Buffer.from(key, 'binary')``)."""
    units = key.encode("utf-16-le")
    return bytes(units[i] for i in range(0, len(units), 2))


def evp_bytes_to_key(password: bytes, salt: bytes, key_len: int = 32, iv_len: int = 16) -> tuple[bytes, bytes]:
    """OpenSSL's EVP_BytesToKey with MD5 and one iteration: ``(key, iv)``."""
    derived = b""
    block = b""
    while len(derived) < key_len + iv_len:
        block = hashlib.md5(block + password + salt).digest()  # noqa: S324 -- the format mandates MD5
        derived += block
    return derived[:key_len], derived[key_len:key_len + iv_len]


def encrypt_n8n(data: dict[str, Any], key: str) -> str:
    """``data`` as n8n's ``Cipher`` encrypts it with ``key``: JSON, AES-256-CBC, ``Salted__`` + random salt, base64."""
    import os

    from cryptography.hazmat.primitives import padding
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    if not key:
        raise DecryptionError("the n8n encryption key is empty")
    salt = os.urandom(8)
    secret, iv = evp_bytes_to_key(key_bytes(key), salt)
    padder = padding.PKCS7(128).padder()
    plain = padder.update(json.dumps(data, ensure_ascii=False).encode("utf-8")) + padder.finalize()
    encryptor = Cipher(algorithms.AES(secret), modes.CBC(iv)).encryptor()
    return base64.b64encode(_MAGIC + salt + encryptor.update(plain) + encryptor.finalize()).decode("ascii")


def decrypt_n8n(ciphertext: str, key: str, *, what: str = "n8n credential") -> dict[str, Any]:
    """The JSON object n8n encrypted with ``key``; ``DecryptionError`` (naming ``what``) when it cannot be."""
    from cryptography.hazmat.primitives import padding
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    problem = f"{what}: cannot decrypt with the given n8n encryption key (wrong key, or not n8n's format)"
    try:
        raw = base64.b64decode(ciphertext, validate=True)
    except (binascii.Error, ValueError):
        raise DecryptionError(f"{what}: the data is not base64") from None
    if len(raw) < 32 or not raw.startswith(_MAGIC) or (len(raw) - 16) % 16:
        raise DecryptionError(f"{what}: the data is not in OpenSSL's Salted__ format")
    secret, iv = evp_bytes_to_key(key_bytes(key), raw[8:16])
    decryptor = Cipher(algorithms.AES(secret), modes.CBC(iv)).decryptor()
    padded = decryptor.update(raw[16:]) + decryptor.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    try:
        plaintext = unpadder.update(padded) + unpadder.finalize()
        data = json.loads(plaintext.decode("utf-8"))
    except ValueError:  # bad padding, bad UTF-8 and bad JSON are all ValueErrors
        raise DecryptionError(problem) from None
    if not isinstance(data, dict):
        raise DecryptionError(problem)
    return data
