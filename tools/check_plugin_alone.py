"""Check, in a venv holding only fluxnex-core and one plugin, that discovery shows exactly its types.

Usage: python tools/check_plugin_alone.py fluxnex-quickbooks
"""

from __future__ import annotations

import json
import subprocess
import sys


def main(distribution: str) -> int:
    out = subprocess.run(
        [sys.executable, "-m", "fluxnex", "types", "list", "--json"], check=True, capture_output=True, text=True
    ).stdout
    providers = {row["distribution"] for row in json.loads(out)}
    plugins = json.loads(
        subprocess.run(
            [sys.executable, "-m", "fluxnex", "plugins", "--json"], check=True, capture_output=True, text=True
        ).stdout
    )
    if plugins["failed"]:
        print(f"plugins failed to load: {plugins['failed']}")
        return 1
    if providers != {"fluxnex-core", distribution}:
        print(f"expected types from fluxnex-core and {distribution} only, got {sorted(providers)}")
        return 1
    own = [row["name"] for row in json.loads(out) if row["distribution"] == distribution]
    print(f"{distribution} alone: {len(own)} types ({', '.join(own)}) and core's built-ins; nothing else")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
