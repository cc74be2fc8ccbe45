"""Layer 1, the plugin contract: exceptions, ``CredentialType``/``Property``, hook specifications, the registry.

What a plugin sees. Imports no other layer of ``fluxnex`` (see docs/architecture.md).
"""
