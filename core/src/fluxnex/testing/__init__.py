"""Test kit for FluxNex plugin authors: a sandbox OAuth2 provider, fixtures and contract checks."""
