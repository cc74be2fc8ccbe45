"""Layer 4, the token lifecycle: OAuth2, the connect flow, leases, the exactly-once refresh, the worker.

Its objects are given the store, the keyring's decrypt function and the registry they need; nothing here
imports the API layer (see docs/architecture.md).
"""
