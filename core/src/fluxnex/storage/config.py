"""The environment: database URL, data directory and keyring loading (with the embedded key file)."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from fluxnex.contract.errors import ConfigurationError
from fluxnex.storage.crypto import Keyring, generate_key_line

__all__ = [
    "KEY_FILE_NAME",
    "data_dir",
    "database_url",
    "default_database_url",
    "is_embedded_default",
    "load_keyring",
    "postgres_timeouts",
    "private_dir",
    "read_key_file",
    "redact_url",
]

ENV_DATABASE_URL = "FLUXNEX_DATABASE_URL"
ENV_HOME = "FLUXNEX_HOME"
ENV_KEYS = "FLUXNEX_ENCRYPTION_KEYS"
ENV_KEY_FILE = "FLUXNEX_ENCRYPTION_KEY_FILE"
ENV_PG_LOCK_TIMEOUT = "FLUXNEX_PG_LOCK_TIMEOUT_MS"
ENV_PG_STATEMENT_TIMEOUT = "FLUXNEX_PG_STATEMENT_TIMEOUT_MS"
#: Milliseconds a PostgreSQL statement waits for a lock / runs at most, unless configured (0 disables).
DEFAULT_PG_LOCK_TIMEOUT_MS = 5_000
DEFAULT_PG_STATEMENT_TIMEOUT_MS = 30_000
KEY_FILE_NAME = "fluxnex.key"
DB_FILE_NAME = "fluxnex.db"

_log = logging.getLogger("fluxnex")


def data_dir() -> Path:
    """Return the data directory: FLUXNEX_HOME, else the platform's user data dir for fluxnex."""
    home = os.environ.get(ENV_HOME)
    if home:
        return Path(home).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("fluxnex"))


def default_database_url() -> str:
    """Return the embedded default SQLite URL inside the data directory."""
    return f"sqlite:///{data_dir() / DB_FILE_NAME}"


def database_url(explicit: str | None = None) -> str:
    """Return the database URL: explicit, else FLUXNEX_DATABASE_URL, else the embedded default."""
    if explicit:
        return explicit
    env = os.environ.get(ENV_DATABASE_URL)
    if env:
        return env
    return default_database_url()


def is_embedded_default(url: str) -> bool:
    """Tell whether a URL is the embedded default SQLite database of the current data directory."""
    return _sqlite_path(url) == _sqlite_path(default_database_url())


def _sqlite_path(url: str) -> Path | None:
    """Return the resolved file path of a file-backed SQLite URL, or None."""
    if url.startswith("sqlite:///") and "?" not in url:  # the plain form, parsed without importing SQLAlchemy
        path = url[len("sqlite:///"):]
        return Path(path).expanduser().resolve() if path and path != ":memory:" else None
    from sqlalchemy.engine import make_url

    try:
        parsed = make_url(url)
    except Exception:
        return None
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    return Path(parsed.database).expanduser().resolve()


def _milliseconds(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise ConfigurationError(f"{name} must be a whole number of milliseconds (0 disables), got {raw!r}") from None
    if value < 0:
        raise ConfigurationError(f"{name} must be a whole number of milliseconds (0 disables), got {raw!r}")
    return value


def postgres_timeouts() -> dict[str, int]:
    """PostgreSQL ``lock_timeout`` and ``statement_timeout`` in ms (FLUXNEX_PG_LOCK_TIMEOUT_MS, ..._STATEMENT_...)."""
    return {
        "lock_timeout": _milliseconds(ENV_PG_LOCK_TIMEOUT, DEFAULT_PG_LOCK_TIMEOUT_MS),
        "statement_timeout": _milliseconds(ENV_PG_STATEMENT_TIMEOUT, DEFAULT_PG_STATEMENT_TIMEOUT_MS),
    }


def redact_url(url: str) -> str:
    """Return the URL with any password hidden, for logs and messages."""
    if "@" not in url and "://" in url:
        return url  # no userinfo, so no password (and no SQLAlchemy import for the embedded default)
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparseable database URL>"


def load_keyring(url: str, explicit: Keyring | str | None = None) -> Keyring:
    """Return the keyring: explicit, env keys, env key file, else the embedded default's key file."""
    if isinstance(explicit, Keyring):
        return explicit
    if explicit:
        return Keyring.parse(explicit)
    spec = os.environ.get(ENV_KEYS)
    if spec is not None:
        if not spec.strip():
            raise ConfigurationError(
                f"{ENV_KEYS} is set but empty: give 'kid:key' (see `fluxnex keys generate`) or unset it")
        return Keyring.parse(spec)
    key_file = os.environ.get(ENV_KEY_FILE)
    if key_file is not None:
        if not key_file.strip():
            raise ConfigurationError(f"{ENV_KEY_FILE} is set but empty: give the key file's path or unset it")
        return read_key_file(Path(key_file))
    db_path = _sqlite_path(url)
    if db_path is not None and is_embedded_default(url):
        return read_key_file(ensure_key_file(db_path.parent / KEY_FILE_NAME, database=db_path))
    raise ConfigurationError(
        f"no encryption key configured for {redact_url(url)}: set {ENV_KEYS} (generate one with "
        f"`fluxnex keys generate`) or {ENV_KEY_FILE}"
    )


def read_key_file(path: Path) -> Keyring:
    """The keyring in ``path``; refused when the file is accessible to its group or to others."""
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        raise ConfigurationError(f"cannot read encryption key file {str(path)!r}: {exc.strerror}") from None
    if mode & 0o077:
        raise ConfigurationError(
            f"encryption key file {str(path)!r} is accessible to other users (mode {mode & 0o777:04o}): "
            f"run `chmod 600 {path}`"
        )
    return Keyring.from_file(path)


def private_dir(path: Path) -> None:
    """Create ``path`` (and missing parents) as mode 0700; an existing directory is left as it is."""
    if not path.exists():
        path.mkdir(mode=0o700, parents=True, exist_ok=True)


def _rows_in(database: Path) -> int:
    """Connections in an existing SQLite file (0 when it does not exist or has no table yet)."""
    import sqlite3

    if not database.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as conn:
            return int(conn.execute("SELECT count(*) FROM connection").fetchone()[0])
    except sqlite3.Error:
        return 0


def ensure_key_file(path: Path, *, database: Path | None = None) -> Path:
    """Create a mode-0600 key file atomically if it does not exist (racing creators share one key).

    Never when ``database`` already holds connections: a new key could not read them, and rows written under
    it would sit beside rows no key reads.
    """
    if path.exists():
        return path
    rows = _rows_in(database) if database is not None else 0
    if rows:
        raise ConfigurationError(
            f"the encryption key file {str(path)!r} is missing but the database {str(database)!r} holds {rows} "
            f"connection(s): restore the key file (or set {ENV_KEYS}); no new key is generated"
        )
    private_dir(path.parent)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(generate_key_line() + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        try:
            # link() fails if the target exists: the first creator wins, the others read its key.
            os.link(tmp, path)
        except FileExistsError:
            return path
    finally:
        tmp.unlink(missing_ok=True)
    _log.warning(
        "generated a new encryption key at %s for the embedded database; back it up: without it the "
        "stored credentials cannot be decrypted",
        path,
    )
    return path


ENV_POOL_SIZE = "FLUXNEX_DB_POOL_SIZE"
ENV_POOL_TIMEOUT = "FLUXNEX_DB_POOL_TIMEOUT"
#: Database connections one ConnectionStore (so one CredentialManager) opens at most (``FLUXNEX_DB_POOL_SIZE``).
DEFAULT_POOL_SIZE = 4
#: Seconds a caller waits for a free pooled connection before ``PoolTimeout`` (``FLUXNEX_DB_POOL_TIMEOUT``).
DEFAULT_POOL_TIMEOUT = 30.0


def pool_settings(size: int | None = None, timeout: float | None = None) -> tuple[int, float]:
    """The database pool's (size, timeout): explicit, else FLUXNEX_DB_POOL_SIZE / _TIMEOUT, else the defaults."""
    if size is None:
        size = _env_number(ENV_POOL_SIZE, int, DEFAULT_POOL_SIZE)
    if timeout is None:
        timeout = _env_number(ENV_POOL_TIMEOUT, float, DEFAULT_POOL_TIMEOUT)
    if size < 1:
        raise ConfigurationError(f"the database pool size must be at least 1, got {size}")
    if timeout <= 0:
        raise ConfigurationError(f"the database pool timeout must be positive, got {timeout:g}")
    return size, timeout


def _env_number(name: str, kind: type[int] | type[float], default: float) -> Any:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return kind(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a number, got {raw!r}") from None
