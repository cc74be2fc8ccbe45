"""RFC 9457 problem details: every API error is ``application/problem+json`` with a one-line ``detail``."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from starlette.responses import JSONResponse

from fluxnex.contract.errors import (
    ConcurrentUpdateError,
    ConnectionExists,
    ConnectionExpired,
    ConnectionNotFound,
    DatabaseError,
    FluxnexError,
    NotConnected,
    NotRefreshable,
    RefreshError,
    UnknownCredentialType,
    ValidationError,
)

__all__ = ["PROBLEM_TYPE", "Problem", "problem_for", "problem_response"]

PROBLEM_TYPE = "application/problem+json"


class Problem(Exception):
    """An HTTP error to answer with: status, one-line detail, optional extra members and headers."""

    def __init__(self, status: int, detail: str, *, kind: str | None = None, headers: dict[str, str] | None = None,
                 **extra: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = " ".join(detail.split())  # one line, always
        self.kind = kind
        self.headers = headers or {}
        self.extra = extra


def problem_response(problem: Problem, instance: str | None = None) -> JSONResponse:
    """The problem as a response."""
    body: dict[str, Any] = {
        "type": f"urn:fluxnex:problem:{problem.kind}" if problem.kind else "about:blank",
        "title": HTTPStatus(problem.status).phrase,
        "status": problem.status,
        "detail": problem.detail,
    }
    if instance:
        body["instance"] = instance
    body.update(problem.extra)
    return JSONResponse(body, status_code=problem.status, headers=problem.headers, media_type=PROBLEM_TYPE)


def problem_for(exc: FluxnexError) -> Problem:
    """The problem a library error stands for (its message is one line and never holds a secret)."""
    text = str(exc)
    if isinstance(exc, ValidationError):
        errors = [{"field": field, "message": message} for field, message in exc.problems]
        return Problem(422, text, kind="validation", errors=errors)
    if isinstance(exc, ConnectionNotFound | UnknownCredentialType):
        return Problem(404, text, kind="not-found")
    if isinstance(exc, ConnectionExists):
        return Problem(409, text, kind="exists")
    if isinstance(exc, ConnectionExpired | NotConnected):
        return Problem(409, text, kind="reconnect-needed")
    if isinstance(exc, NotRefreshable):
        return Problem(409, text, kind="not-refreshable")
    if isinstance(exc, ConcurrentUpdateError):
        return Problem(409, text, kind="conflict")
    if isinstance(exc, RefreshError):
        return Problem(502, text, kind="provider-error")
    if isinstance(exc, DatabaseError):
        return Problem(503, text, kind="database-unavailable")
    return Problem(400, text, kind="bad-request")
