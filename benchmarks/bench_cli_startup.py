"""CLI start-up benchmark: median wall time of ``fluxnex types list`` beside ``python -c "import click"``.

Run: ``python3 benchmarks/bench_cli_startup.py [--runs 15] [--importtime]``. Both commands are measured in the
same run, after a warm-up, so the ratio is comparable across machines (target: ratio <= 5). It also checks, in
a subprocess, that ``fluxnex types list`` imports none of SQLAlchemy, requests or cryptography, and with
``--importtime`` prints the slowest imports of ``fluxnex types list`` (``python -X importtime``).
Not a test: it prints figures; the exit code is 1 when the ratio is above the target or a heavy module loads.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence

TARGET_RATIO = 5.0
HEAVY = ("sqlalchemy", "requests", "cryptography", "alembic", "oauthlib")

_HEAVY_CHECK = (
    "import sys\n"
    "from fluxnex.cli import main\n"
    "main(['types', 'list'])\n"
    f"print('LOADED=' + ','.join(m for m in {HEAVY!r} if m in sys.modules))\n"
)


def _env() -> dict[str, str]:
    """The environment without FLUXNEX_* settings (no allowlist, no catalog): every installed plugin loads."""
    return {k: v for k, v in os.environ.items() if not k.startswith("FLUXNEX_")}


def median_seconds(command: Sequence[str], runs: int, warmup: int = 2) -> float:
    """Return the median wall time of ``command`` over ``runs`` runs after ``warmup`` runs."""
    times = []
    for index in range(warmup + runs):
        start = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=_env())
        if index >= warmup:
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def heavy_modules_loaded() -> list[str]:
    """Return the heavy modules that ``fluxnex types list`` imports (empty when none)."""
    out = subprocess.run(
        [sys.executable, "-c", _HEAVY_CHECK], check=True, capture_output=True, text=True, env=_env()
    ).stdout
    line = out.strip().splitlines()[-1]
    return [m for m in line.removeprefix("LOADED=").split(",") if m]


def slowest_imports(script: str, top: int = 15) -> list[tuple[int, int, str]]:
    """Return ``(cumulative us, self us, module)`` of the slowest top-level-ish imports of ``types list``."""
    err = subprocess.run(
        [sys.executable, "-X", "importtime", script, "types", "list"],
        check=True, capture_output=True, text=True, env=_env(),
    ).stderr
    rows = []
    for line in err.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        self_us, cumulative_us, name = (part.strip() for part in line.removeprefix("import time:").split("|"))
        rows.append((int(cumulative_us), int(self_us), name))
    return sorted(rows, reverse=True)[:top]


def main(argv: Sequence[str] | None = None) -> int:
    """Measure, print the figures, and return 1 when a target is missed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="timed runs of each command (after a warm-up)")
    parser.add_argument("--importtime", action="store_true", help="print the slowest imports of `types list`")
    args, _ = parser.parse_known_args(argv)  # nox passes every bench script the same arguments

    script = shutil.which("fluxnex")
    if script is None:
        print("the fluxnex script is not installed (pip install -e core)", file=sys.stderr)
        return 2
    baseline = median_seconds([sys.executable, "-c", "import click"], args.runs)
    cli = median_seconds([script, "types", "list"], args.runs)
    ratio = cli / baseline
    heavy = heavy_modules_loaded()
    print(f"python -c 'import click'   median {baseline * 1000:7.1f} ms  ({args.runs} runs)")
    print(f"fluxnex types list         median {cli * 1000:7.1f} ms  ({args.runs} runs)")
    verdict = "ok" if ratio <= TARGET_RATIO else "SLOW"
    print(f"ratio                      {ratio:7.2f}  (target <= {TARGET_RATIO:g})  {verdict}")
    print(f"heavy modules imported     {', '.join(heavy) if heavy else 'none'}  (checked: {', '.join(HEAVY)})")
    if args.importtime or ratio > TARGET_RATIO:
        print("\nslowest imports of `fluxnex types list` (cumulative us, self us, module):")
        for cumulative, self_us, name in slowest_imports(script):
            print(f"  {cumulative:8d} {self_us:8d}  {name}")
    return 0 if ratio <= TARGET_RATIO and not heavy else 1


if __name__ == "__main__":
    sys.exit(main())
