"""Layer 5, the API: ``CredentialManager``, ``session()``, connection tests, ``ConnectionInfo``.

It assembles the layers below and hands each object what it needs (see docs/architecture.md).
"""
