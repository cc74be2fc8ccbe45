"""Layer 3, storage: the keyring and envelopes, key fingerprints, configuration, the store, key rotation.

What is at rest and how it is protected. Imports only ``contract`` and ``n8n`` (see docs/architecture.md).
"""
