"""CLI start-up benchmark: median wall time of ``fluxnex types list`` and of the database commands
(``connections list``, ``connections show``, ``status`` on the embedded SQLite default, in a temporary
FLUXNEX_HOME holding 50 connections) beside ``python -c "import click"``.

Run: ``python3 benchmarks/bench_cli_startup.py [--runs 15] [--importtime]``. Every command is measured in the
same run, after a warm-up, so the ratios are comparable across machines (target: ratio <= 5 for each). It also
checks, in a subprocess, that ``fluxnex types list`` imports none of SQLAlchemy, requests or cryptography, and with
``--importtime`` prints the slowest imports of ``fluxnex types list`` (``python -X importtime``).
Not a test: it prints figures; the exit code is 1 when a ratio is above the target or a heavy module loads.
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


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment without FLUXNEX_* settings (no allowlist, no catalog): every installed plugin loads."""
    return {**{k: v for k, v in os.environ.items() if not k.startswith("FLUXNEX_")}, **(extra or {})}


def median_seconds(command: Sequence[str], runs: int, warmup: int = 2, env: dict[str, str] | None = None) -> float:
    """Return the median wall time of ``command`` over ``runs`` runs after ``warmup`` runs."""
    times = []
    for index in range(warmup + runs):
        start = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env or _env())
        if index >= warmup:
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def paired_medians(baseline: Sequence[str], command: Sequence[str], runs: int, env: dict[str, str],
                   warmup: int = 2) -> tuple[float, float]:
    """Median wall times of ``baseline`` and ``command`` run alternately (so load changes hit both alike)."""
    times: tuple[list[float], list[float]] = ([], [])
    for index in range(warmup + runs):
        for which, argv in enumerate((baseline, command)):
            start = time.perf_counter()
            subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
            if index >= warmup:
                times[which].append(time.perf_counter() - start)
    return statistics.median(times[0]), statistics.median(times[1])


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
    worst = max(ratio, _database_commands(script, args.runs))
    if args.importtime or ratio > TARGET_RATIO:
        print("\nslowest imports of `fluxnex types list` (cumulative us, self us, module):")
        for cumulative, self_us, name in slowest_imports(script):
            print(f"  {cumulative:8d} {self_us:8d}  {name}")
    return 0 if worst <= TARGET_RATIO and not heavy else 1


def _database_commands(script: str, runs: int) -> float:
    """Time the database commands on the embedded default (a temporary home with 50 connections); worst ratio."""
    import json
    import tempfile
    import uuid

    tenant = str(uuid.uuid4())
    worst = 0.0
    with tempfile.TemporaryDirectory(prefix="fluxnex-bench-") as home:
        env = _env({"FLUXNEX_HOME": home})
        for index in range(50):
            subprocess.run([script, "connections", "add", "--tenant", tenant, "--type", "revenovaApi", "--name",
                            f"conn-{index:02d}", "--data", "-"], input=json.dumps({"accessToken": f"tok-{index:08d}"}),
                           text=True, check=True, capture_output=True, env=env)
        print("\ndatabase commands on the embedded default (50 connections), each run alternately with "
              "`python -c 'import click'`:")
        for label, command in (
            ("connections list", ["connections", "list", "--tenant", tenant]),
            ("connections show", ["connections", "show", "--tenant", tenant, "conn-07"]),
            ("status", ["status"]),
        ):
            baseline, seconds = paired_medians([sys.executable, "-c", "import click"], [script, *command], runs, env)
            ratio = seconds / baseline
            worst = max(worst, ratio)
            verdict = "ok" if ratio <= TARGET_RATIO else "SLOW"
            print(f"fluxnex {label:<18} median {seconds * 1000:7.1f} ms  baseline {baseline * 1000:6.1f} ms  "
                  f"ratio {ratio:5.2f} (target <= {TARGET_RATIO:g})  {verdict}")
    return worst


if __name__ == "__main__":
    sys.exit(main())
