"""``python -m fluxnex``: the command line."""

from fluxnex.cli import main

main()
