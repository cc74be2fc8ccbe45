"""``--log-format json``: one JSON object a line, with ``key=value`` pairs of FluxNex's messages as fields.

Masked as everywhere else: FluxNex's messages carry ids, types and outcomes, never data; what may come from
outside (exception text, URLs) passes through ``redact_urls`` (userinfo dropped, query strings redacted).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from typing import Any

from fluxnex.cli._errors import redact_urls

__all__ = ["JsonFormatter"]

_PAIR = re.compile(r"(?<![\w.])([a-z_]{2,32})=(\S+)")
_RESERVED = frozenset({"ts", "level", "logger", "message", "exception"})


class JsonFormatter(logging.Formatter):
    """Format a record as a JSON line: ts, level, logger, message and the message's ``key=value`` fields."""

    def format(self, record: logging.LogRecord) -> str:
        message = redact_urls(record.getMessage())
        out: dict[str, Any] = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(), "logger": record.name, "message": message,
        }  # fmt: skip
        for key, value in _PAIR.findall(message):
            if key not in _RESERVED and key not in out:
                out[key] = int(value) if value.isdigit() else value
        if record.exc_info and record.exc_info[0] is not None:
            out["exception"] = record.exc_info[0].__name__  # the type only: messages may carry what we can't mask
        return json.dumps(out, ensure_ascii=False)
