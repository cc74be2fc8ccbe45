"""Shared CLI plumbing: the manager from the environment, the tenant option, masking."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from fluxnex.api.manager import CredentialManager
    from fluxnex.contract.schema import CredentialType

TENANT_OPTION = click.option(
    "--tenant", "tenant", required=True, envvar="FLUXNEX_TENANT", show_envvar=True, help="Tenant UUID."
)
MASK = "********"


def manager() -> CredentialManager:
    """A manager configured from the environment (FLUXNEX_DATABASE_URL, FLUXNEX_ENCRYPTION_KEYS, ...)."""
    from fluxnex.api.manager import CredentialManager

    return CredentialManager()


def confirm_or_refuse(question: str, *, yes: bool, what: str) -> None:
    """Ask ``question`` on a terminal (abort on no); without one, refuse unless ``--yes`` was given."""
    import sys

    from fluxnex.contract.errors import FluxnexError

    if yes:
        return
    if not sys.stdin.isatty():
        raise FluxnexError(f"refusing to {what} without --yes: stdin is not a terminal, so nobody can confirm")
    click.confirm(question, abort=True)


def masked(ct: CredentialType | None, data: dict[str, Any], reveal: bool) -> dict[str, Any]:
    """``data`` with secret values replaced by a mask (every value of unknown types), unless ``reveal``."""
    if reveal:
        return data
    from fluxnex.contract._trace import masked_data  # one masking rule for the CLI and FLUXNEX_TRACE_PLUGINS

    return masked_data(ct, data)
