"""The encrypted export decrypts with n8n's own code: n8n-core's ``CipherAes256CBC`` (the legacy, no-prefix form
n8n 2.41's ``Cipher.decryptV2`` reads with the instance key), driven with node."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest
from engine_support import core_dist
from fluxnex.n8n.cipher import encrypt_n8n

pytestmark = pytest.mark.n8n_engine

_DECRYPT = r"""
const path = require('path');
const Module = require('module');
const load = Module._load;
Module._load = function (request, parent, isMain) {
  if (request === '@n8n/di') return { Service: () => (target) => target };
  return load.call(this, request, parent, isMain);
};
const { CipherAes256CBC } = require(path.join(process.argv[1], 'encryption', 'aes-256-cbc.js'));
const { key, items } = JSON.parse(require('fs').readFileSync(0, 'utf8'));
const cipher = new CipherAes256CBC();
process.stdout.write(JSON.stringify(items.map((item) => JSON.parse(cipher.decrypt(item, key)))));
"""


@pytest.mark.parametrize("key", ["ascii-key-0123456789abcdef", "n8n-key-é-Ä-ß"])
def test_n8n_core_decrypts_what_fluxnex_encrypts(key: str) -> None:
    data: list[dict[str, Any]] = [
        {"apiKey": "mc-123-us5"},
        {"clientId": "qb", "oauthTokenData": {"access_token": "at", "callbackQueryString": {"realmId": "9130347"}}},
        {"password": "pässwörd ✓ 🔑", "n": 1.5, "flag": True, "none": None},
    ]
    sealed = [encrypt_n8n(item, key) for item in data]
    done = subprocess.run(["node", "-e", _DECRYPT, str(core_dist())], input=json.dumps({"key": key, "items": sealed}),
                          capture_output=True, text=True, timeout=120, check=True)
    assert json.loads(done.stdout) == data
