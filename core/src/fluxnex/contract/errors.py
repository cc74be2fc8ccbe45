"""The exceptions FluxNex raises; every one derives from :class:`FluxnexError`.

Messages never carry secret values: they name connections, fields, key ids and
types, never what was stored in them.
"""

from __future__ import annotations

from collections.abc import Iterable


class FluxnexError(Exception):
    """Base class of every error raised by FluxNex."""


class ConfigurationError(FluxnexError):
    """The environment or arguments do not describe a usable setup (no key, bad URL, ...)."""


class KeyMismatch(ConfigurationError):
    """The keyring does not match the keys the database recorded (changed, foreign or unverifiable key)."""


class PluginError(FluxnexError):
    """A plugin could not be loaded, or a definition it registered is invalid or conflicts."""


class UnknownCredentialType(FluxnexError):
    """No loaded plugin provides a credential type of that name; ``suggestions`` are the closest known names."""

    def __init__(self, name: str, known: Iterable[str] = ()) -> None:
        import difflib

        by_lower = {k.lower(): k for k in known}
        matches = difflib.get_close_matches(str(name).lower(), list(by_lower), n=3, cutoff=0.75)
        self.suggestions: list[str] = [by_lower[m] for m in matches]
        hint = f": did you mean {' or '.join(repr(s) for s in self.suggestions)}?" if self.suggestions else ""
        super().__init__(f"unknown credential type {name!r}{hint} (see `fluxnex types list`)")
        self.name = name


class ValidationError(FluxnexError):
    """Data does not satisfy its credential type; ``problems`` lists ``(field, message)`` pairs."""

    def __init__(self, type_name: str, problems: Iterable[tuple[str, str]]) -> None:
        self.type_name = type_name
        self.problems: list[tuple[str, str]] = list(problems)
        # a field name that is not printable (a newline, a control character) is quoted: one line, always
        listed = "; ".join(f"{field if field.isprintable() else repr(field)}: {message}"
                           for field, message in self.problems)
        super().__init__(f"invalid data for credential type {type_name!r}: {listed}")


class ConnectionNotFound(FluxnexError):
    """No connection of that name exists for that tenant."""

    def __init__(self, tenant_id: object, name: str) -> None:
        super().__init__(f"connection {name!r} not found for tenant {tenant_id}")
        self.tenant_id = tenant_id
        self.name = name


class ConnectionExists(FluxnexError):
    """A connection of that name already exists for that tenant."""

    def __init__(self, tenant_id: object, name: str) -> None:
        super().__init__(f"connection {name!r} already exists for tenant {tenant_id}")
        self.tenant_id = tenant_id
        self.name = name


class ConcurrentUpdateError(FluxnexError):
    """A compare-and-set write lost against another writer more times than it retries."""


class ConnectionExpired(FluxnexError):
    """The connection's grant is no longer valid (revoked, invalid_grant): a person must reconnect."""


class NotConnected(ConnectionExpired):
    """An OAuth2 connection stored without a token (status NOT_CONNECTED): a person must connect it first."""


class RefreshError(FluxnexError):
    """A token refresh failed; ``transient`` tells whether retrying later may succeed."""

    def __init__(self, message: str, *, transient: bool, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.transient = transient
        self.retry_after = retry_after


class NotRefreshable(RefreshError):
    """No plugin refreshes credentials of this type (a static token or key): nothing to refresh, nothing changed."""

    def __init__(self, message: str) -> None:
        super().__init__(message, transient=False)


class DecryptionError(FluxnexError):
    """Stored data could not be decrypted (wrong or unknown key, tampered or moved ciphertext)."""


class ExpressionError(FluxnexError):
    """An n8n expression could not be parsed, or exceeded a resource limit."""


class MigrationError(FluxnexError):
    """The database schema is at a revision this version of FluxNex does not know."""


class DatabaseError(FluxnexError):
    """The database could not be reached or refused an operation; the message names the host, never a password.

    Driver exceptions (psycopg, sqlite3, SQLAlchemy) never reach callers raw: they are wrapped in this, with
    the original chained as ``__cause__``. ``hint`` is the fix to suggest, when there is one.
    """

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message if hint is None else f"{message} ({hint})")
        self.hint = hint


class PoolTimeout(DatabaseError):
    """Every connection of the process's database pool stayed in use for longer than the pool timeout."""
