"""Connect service benchmark: ``GET .../credentials`` over keep-alive HTTP beside a bare Starlette endpoint.

Run: ``python benchmarks/bench_service.py [--requests 3000] [--clients 4] [--rounds 5] [--postgres]
[--no-loop-reads]``. One uvicorn process serves the endpoints of one application: the service's
``GET /api/v1/tenants/{t}/connections/{c}/credentials`` (API key checked against its hash in the database,
tenant check, the connection read and decrypted, JSON out; on the event loop, key and connection read in one
statement, sent without waiting for it on PostgreSQL, unless ``--no-loop-reads`` sends it to the thread pool as
every other endpoint); ``GET /bare``, a
plain Starlette endpoint answering JSON of exactly the same bytes; and ``GET /bare-thread``, the same plus one
hop to the thread pool (where the service runs the manager's blocking calls, and credentials with
``--no-loop-reads``), which shows how much of a gap that hop alone makes. The client (this process) keeps
``--clients`` keep-alive connections busy; the endpoints alternate round by round, so none gets a warmer
server. Prints requests/s, p50 and p99 latency of each (medians over the rounds) and the throughput ratios, and
(on Linux) the server process's CPU time per request, whose ratio shifts less than throughput's when other
processes share the cores. Goal: credentials at least 0.5 of the bare endpoint.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

TENANT = uuid.UUID("00000000-0000-4000-8000-00000000bec4")
DATA: dict[str, Any] = {
    "instanceUrl": "https://example.my.salesforce.com",
    "accessToken": "00D" + "a" * 112,
}


def serve(url: str, keys: str, port: int, body_file: str, loop_reads: bool) -> None:
    """The server process: the service app plus /bare, on one uvicorn worker."""
    import uvicorn
    from fluxnex.api.manager import CredentialManager
    from fluxnex.server import ServiceConfig, create_app
    from starlette.concurrency import run_in_threadpool
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    body = Path(body_file).read_bytes()

    async def bare(_: Request) -> Response:
        return Response(body, media_type="application/json")

    def same_body() -> bytes:
        return body

    async def bare_thread(_: Request) -> Response:  # the bare endpoint plus the service's one thread-pool hop
        return Response(await run_in_threadpool(same_body), media_type="application/json")

    manager = CredentialManager(url, keys)
    app = create_app(manager, ServiceConfig(public_url=f"http://127.0.0.1:{port}", rate_limit=(10**9, 1.0),
                                               loop_reads=loop_reads),
                     routes=[Route("/bare", bare), Route("/bare-thread", bare_thread)])
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def _load(port: int, path: str, headers: dict[str, str], total: int, clients: int) -> tuple[float, list[float]]:
    """(requests per second, latencies in ms) for ``total`` GETs spread over ``clients`` keep-alive connections."""
    per = total // clients
    latencies: list[list[float]] = [[] for _ in range(clients)]
    failures: list[str] = []
    barrier = threading.Barrier(clients + 1)

    def client(i: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        barrier.wait()
        for _ in range(per):
            start = time.perf_counter()
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            response.read()
            latencies[i].append((time.perf_counter() - start) * 1000)
            if response.status != 200:
                failures.append(f"{path}: HTTP {response.status}")
                return
        conn.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    barrier.wait()
    started = time.perf_counter()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    if failures:
        raise SystemExit(failures[0])
    flat = [x for xs in latencies for x in xs]
    return len(flat) / elapsed, flat


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` (all its threads) from /proc; 0.0 where there is no /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--postgres", action="store_true",
                        help="on a throw-away database of FLUXNEX_BENCH_POSTGRES_URL (or FLUXNEX_TEST_POSTGRES_URL)")
    parser.add_argument("--no-loop-reads", action="store_true",
                        help="credentials in the thread pool (ServiceConfig.loop_reads=False), as before loop reads")
    parser.add_argument("--serve", nargs=5, metavar=("URL", "KEYS", "PORT", "BODY", "LOOP"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve[0], args.serve[1], int(args.serve[2]), args.serve[3], args.serve[4] == "loop")
        return
    from _bulk import pg_database, pg_url
    from fluxnex.api.manager import CredentialManager
    from fluxnex.storage.crypto import generate_key_line
    from fluxnex.storage.store._service import ServiceStore

    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        if args.postgres:
            base = pg_url()
            if base is None:
                raise SystemExit("--postgres needs FLUXNEX_BENCH_POSTGRES_URL or FLUXNEX_TEST_POSTGRES_URL")
            url = stack.enter_context(pg_database(base))
        else:
            url = f"sqlite:///{tmp}/bench.db"
        keys = generate_key_line("bench")
        manager = CredentialManager(url, keys)
        info = manager.create_connection(TENANT, "revenovaApi", f"bench-{uuid.uuid4().hex[:8]}", DATA)
        key = ServiceStore(manager.store).create_api_key("bench", ["credentials:read"], None)[1]
        body = json.dumps(manager.get_connection(TENANT, info.name), ensure_ascii=False, separators=(",", ":"))
        manager.close()
        body_file = Path(tmp) / "body.json"
        body_file.write_text(body, encoding="utf-8")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        server = subprocess.Popen([sys.executable, __file__, "--serve", url, keys, str(port), str(body_file),
                                   "pool" if args.no_loop_reads else "loop"],
                                  env={**os.environ, "FLUXNEX_ENCRYPTION_KEYS": keys})
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=1):
                        break
                except OSError:
                    if time.monotonic() > deadline or server.poll() is not None:
                        raise SystemExit("the benchmark server did not start") from None
                    time.sleep(0.1)
            creds = f"/api/v1/tenants/{TENANT}/connections/{info.id}/credentials"
            auth = {"Authorization": f"Bearer {key}"}
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            conn.request("GET", creds, headers=auth)
            served = conn.getresponse().read()
            conn.close()
            assert len(served) == len(body.encode()), (len(served), len(body.encode()))
            results: dict[str, list[tuple[float, float, float, float]]] = {
                "bare": [], "bare-thread": [], "credentials": []}
            _load(port, "/bare", {}, args.requests // 5, args.clients)  # warm-up
            _load(port, creds, auth, args.requests // 5, args.clients)
            for _ in range(args.rounds):
                for name, path, headers in (("bare", "/bare", {}), ("bare-thread", "/bare-thread", {}),
                                            ("credentials", creds, auth)):
                    cpu = _cpu_seconds(server.pid)
                    rate, lat = _load(port, path, headers, args.requests, args.clients)
                    cpu_us = (_cpu_seconds(server.pid) - cpu) / len(lat) * 1e6
                    results[name].append((rate, _pct(lat, 0.5), _pct(lat, 0.99), cpu_us))
        finally:
            server.terminate()
            server.wait(20)
    backend = "PostgreSQL" if args.postgres else "SQLite"
    where = "thread pool" if args.no_loop_reads else "loop reads"
    print(f"connect service on {backend} ({where}), {args.clients} keep-alive clients, {args.requests} requests x "
          f"{args.rounds} rounds, body {len(body)} bytes")
    medians, cpus = {}, {}
    for name, rows in results.items():
        rate, p50, p99, cpu_us = (statistics.median(r[i] for r in rows) for i in range(4))
        medians[name], cpus[name] = rate, cpu_us
        print(f"  {name:<12} {rate:8.0f} req/s   p50 {p50:6.2f} ms   p99 {p99:6.2f} ms   "
              f"server CPU {cpu_us:5.0f} us/req")
    ratio = medians["credentials"] / medians["bare"]
    print(f"  ratio credentials/bare: {ratio:.2f} (goal >= 0.5); bare-thread/bare: "
          f"{medians['bare-thread'] / medians['bare']:.2f} (the cost of leaving the event loop once)")
    if cpus["credentials"] > 0:
        print(f"  server CPU per request, bare/credentials: {cpus['bare'] / cpus['credentials']:.2f}")


if __name__ == "__main__":
    main()
