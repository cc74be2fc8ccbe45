"""The ``fluxnex`` command line: a click group whose subcommands load on demand.

Every error prints one line on stderr and exits 1, without a traceback (a JSON object with ``--json``; see
``_errors``); click's usage errors keep exit code 2. Logging stays quiet unless ``-v`` (see ``_logging``).
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

__all__ = ["cli", "main"]

# command name -> "module:attribute", imported only when that command runs (keeps `--help` and
# `types list` fast: nothing here imports SQLAlchemy, requests or cryptography at module level).
_COMMANDS: dict[str, tuple[str, str]] = {
    "types": ("fluxnex.cli.types", "types_group"),
    "plugins": ("fluxnex.cli.types", "plugins_command"),
    "plugin": ("fluxnex.cli.scaffold", "plugin_group"),
    "connections": ("fluxnex.cli.connections", "connections_group"),
    "connect": ("fluxnex.cli.connect", "connect_command"),
    "keys": ("fluxnex.cli.keys", "keys_group"),
    "db": ("fluxnex.cli.db", "db_group"),
    "status": ("fluxnex.cli.status", "status_command"),
    "worker": ("fluxnex.cli.worker", "worker_command"),
    "import": ("fluxnex.cli.imports", "import_group"),
    "demo": ("fluxnex.cli.demo", "demo_command"),
    "n8n": ("fluxnex.cli.n8n", "n8n_group"),
    "export": ("fluxnex.cli.exports", "export_group"),
    "webhooks": ("fluxnex.cli.webhooks", "webhooks_group"),
    "events": ("fluxnex.cli.webhooks", "events_group"),
    "api-keys": ("fluxnex.cli.service", "api_keys_group"),
    "oauth-apps": ("fluxnex.cli.service", "oauth_apps_group"),
    "serve": ("fluxnex.cli.service", "serve_command"),
}

_HELP = {
    "types": "List and show credential types.",
    "plugins": "Show loaded and failed plugins.",
    "plugin": "Scaffold a new plugin distribution.",
    "connections": "Add, list, show, update, test, refresh and delete connections.",
    "connect": "Connect (or reconnect in place) an OAuth2 or OAuth1 account through the browser.",
    "keys": "Generate encryption keys and rotate stored data to the primary key.",
    "db": "Database migrations.",
    "status": "Database, keys, plugins and connection counts.",
    "worker": "Run the refresh worker.",
    "import": "Import credentials from other tools (n8n).",
    "demo": "Walk through the whole token lifecycle against a local sandbox provider.",
    "n8n": "Install, list and remove n8n community packages' credential types.",
    "export": "Export connections to other tools (n8n).",
    "webhooks": "Add, list and remove signed webhook endpoints for connection events.",
    "events": "List connection events and replay them to their webhooks.",
    "api-keys": "Create, list and revoke API keys of the connect service.",
    "oauth-apps": "Store a type's OAuth app (client id and secret) once; connections inherit it.",
    "serve": "Run the connect service: HTTP API and hosted connect pages.",
}


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = _COMMANDS.get(cmd_name)
        if target is None:
            return None
        try:
            module = importlib.import_module(target[0])
        except ModuleNotFoundError as exc:
            if exc.name == target[0]:
                return None
            raise
        command: click.Command = getattr(module, target[1])
        return command

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command; any failure becomes one line on stderr (JSON with ``--json``) and exit code 1."""
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort, BrokenPipeError):
            raise
        except Exception as exc:
            from fluxnex.cli._errors import CommandFailed

            raise CommandFailed(
                exc, as_json=bool(ctx.meta.get("fluxnex.json")), verbose=int(ctx.meta.get("fluxnex.verbose", 0))
            ) from None

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """List the commands from ``_HELP`` without importing their modules (keeps ``--help`` fast)."""
        import importlib.util

        rows = [
            (name, _HELP.get(name, ""))
            for name in self.list_commands(ctx)
            if importlib.util.find_spec(_COMMANDS[name][0]) is not None
        ]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="fluxnex-core", prog_name="fluxnex")
@click.option("-v", "--verbose", count=True, help="Log to stderr: -v INFO, -vv DEBUG (default: errors only).")
@click.pass_context
def cli(ctx: click.Context, verbose: int) -> None:
    """FluxNex: integration credentials, stored encrypted and kept fresh."""
    from fluxnex.cli._logging import setup_logging

    ctx.meta["fluxnex.verbose"] = verbose
    setup_logging(verbose)


def main(argv: list[str] | None = None) -> Any:
    """Run the CLI; user errors become one line on stderr and exit code 1."""
    try:
        return cli.main(args=argv, prog_name="fluxnex", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(1)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except BrokenPipeError:  # `fluxnex ... | head`: the reader left; say nothing more
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
