"""The environment: database URL, data directory and keyring loading (with the embedded key file)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from fluxnex.crypto import Keyring, generate_key_line
from fluxnex.errors import ConfigurationError

__all__ = [
    "KEY_FILE_NAME",
    "data_dir",
    "database_url",
    "default_database_url",
    "is_embedded_default",
    "load_keyring",
    "redact_url",
]

ENV_DATABASE_URL = "FLUXNEX_DATABASE_URL"
ENV_HOME = "FLUXNEX_HOME"
ENV_KEYS = "FLUXNEX_ENCRYPTION_KEYS"
ENV_KEY_FILE = "FLUXNEX_ENCRYPTION_KEY_FILE"
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
    if spec and spec.strip():
        return Keyring.parse(spec)
    key_file = os.environ.get(ENV_KEY_FILE)
    if key_file:
        return Keyring.from_file(key_file)
    db_path = _sqlite_path(url)
    if db_path is not None and is_embedded_default(url):
        return Keyring.from_file(ensure_key_file(db_path.parent / KEY_FILE_NAME))
    raise ConfigurationError(
        f"no encryption key configured for {redact_url(url)}: set {ENV_KEYS} (generate one with "
        f"`fluxnex keys generate`) or {ENV_KEY_FILE}"
    )


def ensure_key_file(path: Path) -> Path:
    """Create a mode-0600 key file atomically if it does not exist (racing creators share one key)."""
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
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
