"""Adversarial expressions: worst-case wall time, peak memory and longest GIL hold, beside a benign baseline.

Run: ``PYTHONPATH=core/src python3 benchmarks/bench_expressions_adversarial.py [--timeout 20] [--mem-mb 1500]``.
Each case runs in a fresh child process under an address-space cap (``--mem-mb``) and a wall-clock timeout,
so a pattern that would run for minutes or allocate gigabytes is reported as such instead of taking the machine
down. A ticker thread in the child wakes every millisecond; the longest gap between its wake-ups is how long the
evaluating thread held the GIL at a stretch (a stalled process freezes every other thread for that long).
Not a test: it prints figures; nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import textwrap

CASES: dict[str, str] = {
    "baseline: benign template": "={{ $credentials.user + ':' + $credentials.pass }}",
    "optional run a?{30}a{30} vs a*30": "={{ /" + "a?" * 30 + "a" * 30 + "/.test('a'.repeat(30)) }}",
    "narrow a{0,10} x12 then b vs a*120": "={{ /" + "a{0,10}" * 12 + "b/.test('a'.repeat(120)) }}",
    "alternation (a|aa)+c vs a*60": "={{ /(a|aa)+c/.test('a'.repeat(60)) }}",
    "lazy groups (.*?,){11}P vs '1,'*30": "={{ /(.*?,){11}P/.test('1,'.repeat(30)) }}",
    "replaceAll $' on 99999 chars": "={{ 'a'.repeat(99999).replaceAll('a', \"$'$'\") }}",
    "replace /a/g $` on 2000 chars": "={{ 'a'.repeat(2000).replace(/a/g, '$`$`$`$`$`$`$`$`') }}",
    "replace /a/g $& chain": "={{ 'a'.repeat(1000).replace(/a/g, '$&'.repeat(10)).replace(/a/g, '$&$&') }}",
    "split/join amplification": "={{ 'ab'.repeat(50000).split('').join('$$').split('$').join('xyz') }}",
}

_CHILD = textwrap.dedent(
    """
    import json, resource, sys, threading, time, tracemalloc
    from fluxnex.n8n.expressions import evaluate
    expression, mem_mb = sys.argv[1], int(sys.argv[2])
    limit = mem_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    gap = [0.0]
    done = threading.Event()
    def tick():
        last = time.perf_counter()
        while not done.is_set():
            time.sleep(0.001)
            now = time.perf_counter()
            gap[0] = max(gap[0], now - last)
            last = now
    t = threading.Thread(target=tick, daemon=True)
    t.start()
    time.sleep(0.01)
    tracemalloc.start()
    start = time.perf_counter()
    try:
        value = evaluate(expression, credentials={"user": "u", "pass": "p"})
        outcome = f"ok ({len(str(value))} chars)"
    except MemoryError:
        outcome = f"MemoryError at the {mem_mb} MB cap"
    except Exception as exc:
        outcome = f"{type(exc).__name__}: {str(exc)[:70]}"
    elapsed = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    done.set()
    t.join()
    rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"s": elapsed, "peak_mb": peak / 2**20, "rss_mb": rss_kb / 1024,
                      "gil_ms": gap[0] * 1000, "outcome": outcome}))
    """
)


def run_case(expression: str, timeout: float, mem_mb: int) -> dict[str, object]:
    """Evaluate ``expression`` in a child process; its figures, or a timeout marker."""
    try:
        proc = subprocess.run(
            [sys.executable, "-c", _CHILD, expression, str(mem_mb)],
            capture_output=True, text=True, timeout=timeout, check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return {"s": timeout, "peak_mb": float("nan"), "rss_mb": float("nan"), "gil_ms": timeout * 1000,
                "outcome": f"still running after {timeout:.0f} s (killed)"}  # fmt: skip
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        return {"s": float("nan"), "peak_mb": float("nan"), "rss_mb": float("nan"), "gil_ms": float("nan"),
                "outcome": f"child failed: {proc.stderr.strip().splitlines()[-1:]}"}  # fmt: skip
    result: dict[str, object] = json.loads(lines[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--timeout", type=float, default=20.0, help="seconds before a case is killed")
    parser.add_argument("--mem-mb", type=int, default=1500, help="address-space cap of each child, MB")
    args = parser.parse_args()
    print(f"{'case':38} {'time s':>8} {'x base':>8} {'py peak MB':>10} {'RSS MB':>7} {'GIL ms':>8}  outcome")
    base = None
    for label, expression in CASES.items():
        r = run_case(expression, args.timeout, args.mem_mb)
        seconds = float(r["s"])  # type: ignore[arg-type]
        base = seconds if base is None else base
        ratio = seconds / base if base else float("nan")
        print(f"{label:38} {seconds:8.3f} {ratio:8.0f} {float(r['peak_mb']):10.1f} "  # type: ignore[arg-type]
              f"{float(r['rss_mb']):7.0f} {float(r['gil_ms']):8.1f}  {r['outcome']}")  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
