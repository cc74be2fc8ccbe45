"""Reading the JSON files n8n produces (its catalog, its credential exports)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from fluxnex.contract.errors import FluxnexError


def read_json(path: str | os.PathLike[str], what: str, error: type[FluxnexError]) -> Any:
    """Parse the JSON file at ``path``; an unreadable or invalid file raises ``error`` naming ``what``."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise error(f"{what}: cannot read ({exc.strerror or exc})") from None
    except ValueError as exc:
        raise error(f"{what}: not valid JSON ({exc})") from None
