"""The start-up fast path of the schema check: is the database already at head? Without importing Alembic.

Importing Alembic (and through it Mako and Pygments) costs about 90 ms, more than a ``fluxnex connections list``
should take in all. Every process asks the same question first, and the answer is almost always "yes": so the
head revision is read from the migration scripts' ``revision``/``down_revision`` lines, the database's from
``alembic_version`` in one query, and Alembic is imported only when they differ (to migrate, or to explain).
A test keeps this reading equal to Alembic's own.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import sqlalchemy as sa

__all__ = ["fast_head_revision", "is_at_head"]

_VERSIONS = Path(__file__).with_name("migrations") / "versions"
_ASSIGNMENT = re.compile(r"^(revision|down_revision)\s*(?::[^=]+)?=\s*(.+)$", re.MULTILINE)
_QUOTED = re.compile(r"['\"]([^'\"]+)['\"]")


@functools.cache
def fast_head_revision() -> str | None:
    """The single head of the migration scripts, or None when that cannot be read simply (Alembic decides)."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for script in _VERSIONS.glob("*.py"):
        found = dict(_ASSIGNMENT.findall(script.read_text(encoding="utf-8")))
        revision = _QUOTED.findall(found.get("revision", ""))
        if len(revision) != 1:
            return None
        revisions.add(revision[0])
        parents.update(_QUOTED.findall(found.get("down_revision", "")))
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def is_at_head(conn: sa.Connection) -> bool:
    """True when the database's ``alembic_version`` is exactly the head; False means "ask Alembic"."""
    import sqlalchemy as sa

    head = fast_head_revision()
    if head is None:
        return False
    try:
        with conn.begin_nested() if conn.in_transaction() else conn.begin():
            rows = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalars().all()
    except sa.exc.DBAPIError:
        return False  # no table yet (a new database): Alembic creates it
    return rows == [head]
