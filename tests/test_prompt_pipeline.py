"""The PostgreSQL prompt reads (``PipelinedReads``): the event loop sends them and goes on serving; many are in
flight at once on the one connection, each answered with its own row; a server that stops answering (a hung
network: no error, no TCP reset) costs the loop no time, and its reads give way (``Busy``) after the deadline;
a second running loop is refused, a stopped one hands over; closing from another thread fails the reads in
flight at once."""

from __future__ import annotations

import asyncio
import contextlib
import os
import select
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fluxnex.api.manager import CredentialManager
from fluxnex.storage.crypto import generate_key_line
from fluxnex.storage.store._prompt import Busy, PromptReader
from fluxnex.storage.store._prompt_pg import deadline
from fluxnex.storage.store._service import ServiceStore, hash_secret
from soak_support import PgDatabase
from sqlalchemy.engine import make_url

PG_ENV = "FLUXNEX_TEST_POSTGRES_URL"
TENANT = uuid.UUID("00000000-0000-4000-8000-0000000000d8")
TIMEOUT = 0.05


class FreezableProxy:
    """A TCP forwarder to PostgreSQL whose ``frozen`` flag stops it passing bytes either way (a hung network)."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.frozen = threading.Event()
        self._stop = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._threads = [threading.Thread(target=self._accept, daemon=True)]
        self._threads[0].start()

    def _accept(self) -> None:
        self._listener.settimeout(0.1)
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            server = socket.create_connection(self.target)
            thread = threading.Thread(target=self._pump, args=(client, server), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _pump(self, a: socket.socket, b: socket.socket) -> None:
        with a, b:
            while not self._stop.is_set():
                if self.frozen.is_set():
                    time.sleep(0.005)
                    continue
                ready, _, _ = select.select([a, b], [], [], 0.05)
                for sock in ready:
                    data = sock.recv(65536)
                    if not data:
                        return
                    (b if sock is a else a).sendall(data)

    def close(self) -> None:
        self._stop.set()
        self._listener.close()
        for thread in self._threads:
            thread.join(5)


@pytest.fixture
def setup() -> Iterator[tuple[CredentialManager, FreezableProxy, str, list[uuid.UUID]]]:
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(f"{PG_ENV} is not set")
    pg = PgDatabase(base)
    url = make_url(pg.url)
    proxy = FreezableProxy(url.host or "127.0.0.1", url.port or 5432)
    manager = CredentialManager(url.set(port=proxy.port).render_as_string(hide_password=False),
                                generate_key_line("pipe"))
    try:
        ids = [manager.create_connection(TENANT, "revenovaApi", f"c{i}", {"accessToken": f"tok-pipe-{i:04d}"}).id
               for i in range(24)]
        key = ServiceStore(manager.store).create_api_key("pipe", ["credentials:read"], None)[1]
        yield manager, proxy, hash_secret(key), ids
    finally:
        proxy.frozen.clear()
        manager.close()
        proxy.close()
        pg.close()


def _reader(manager: CredentialManager) -> PromptReader:
    reader = PromptReader(manager.store, TIMEOUT)
    reader.open()
    assert reader.is_open
    return reader


def test_many_reads_in_flight_each_get_their_own_row(setup: Any) -> None:
    manager, _, digest, ids = setup
    reader = _reader(manager)
    missing = uuid.uuid4()
    in_flight: list[int] = []

    async def main() -> list[Any]:
        tasks = [asyncio.ensure_future(reader.aread(digest if i % 3 else "0" * 64, cid))
                 for i, cid in enumerate([*ids, missing, None])]
        await asyncio.sleep(0)  # every task has sent its read
        in_flight.append(reader._pipe.in_flight if reader._pipe else 0)
        return await asyncio.gather(*tasks)

    results = asyncio.run(main())
    assert in_flight == [len(ids) + 2]  # all sent before the first answer was read
    for i, (cid, read) in enumerate(zip([*ids, missing, None], results, strict=True)):
        assert read.connection_id == cid
        assert (read.key_row is not None) is bool(i % 3)  # the wrong digest finds no key, the others find it
        if cid in ids:
            assert read.connection == manager.store.get_by_id(cid)
            assert manager.ready_data(read.connection)["accessToken"] == f"tok-pipe-{ids.index(cid):04d}"
        else:
            assert read.connection is None
    reader.close()


def test_a_server_that_stops_answering_costs_the_loop_nothing(setup: Any) -> None:
    manager, proxy, digest, ids = setup
    reader = _reader(manager)
    ticks: list[float] = []

    async def ticker(stop: asyncio.Event) -> None:
        while not stop.is_set():
            ticks.append(time.monotonic())
            await asyncio.sleep(0.005)

    async def main() -> tuple[float, BaseException | None]:
        await reader.aread(digest, ids[0])  # answered while the network is up
        stop = asyncio.Event()
        tick = asyncio.ensure_future(ticker(stop))
        proxy.frozen.set()
        started = time.monotonic()
        failure = None
        try:
            await asyncio.gather(*(reader.aread(digest, cid) for cid in ids[:5]))
        except Busy as exc:
            failure = exc
        waited = time.monotonic() - started
        stop.set()
        await tick
        return waited, failure

    waited, failure = asyncio.run(main())
    assert isinstance(failure, Busy) and "timeout" in str(failure)
    assert deadline(TIMEOUT) <= waited < deadline(TIMEOUT) + 1.0
    assert len(ticks) >= 10  # the loop ran other work all along (a blocking read would have held it)
    assert not reader.is_open  # closed; opened again by the next open() a second later
    proxy.frozen.clear()
    time.sleep(1.1)
    reader.open()
    assert reader.is_open
    assert asyncio.run(reader.aread(digest, ids[1])).connection == manager.store.get_by_id(ids[1])
    reader.close()


def test_a_second_running_loop_is_refused_and_a_stopped_one_hands_over(setup: Any) -> None:
    manager, _, digest, ids = setup
    reader = _reader(manager)
    assert asyncio.run(reader.aread(digest, ids[0])).connection is not None  # this loop then stops
    holding, release = threading.Event(), threading.Event()

    def other_loop() -> None:
        async def hold() -> None:
            await reader.aread(digest, ids[1])  # the connection answers this loop now
            holding.set()
            while not release.is_set():
                await asyncio.sleep(0.01)

        asyncio.run(hold())

    thread = threading.Thread(target=other_loop)
    thread.start()
    try:
        assert holding.wait(10)
        with pytest.raises(Busy, match="another event loop"):
            asyncio.run(reader.aread(digest, ids[2]))
    finally:
        release.set()
        thread.join(10)
    assert asyncio.run(reader.aread(digest, ids[3])).connection == manager.store.get_by_id(ids[3])
    reader.close()


def test_closing_from_another_thread_fails_the_reads_in_flight(setup: Any) -> None:
    manager, proxy, digest, ids = setup
    reader = _reader(manager)
    outcome: list[Any] = []
    sent = threading.Event()

    async def read() -> None:
        await reader.aread(digest, ids[0])
        proxy.frozen.set()  # this read will not be answered
        future = asyncio.ensure_future(reader.aread(digest, ids[1]))
        await asyncio.sleep(0)
        sent.set()
        started = time.monotonic()
        try:
            outcome.append(await future)
        except Busy as exc:
            outcome.append((exc, time.monotonic() - started))

    thread = threading.Thread(target=lambda: asyncio.run(read()))
    thread.start()
    assert sent.wait(10)
    reader.close()
    assert not reader.is_open
    thread.join(10)
    (failure, waited), = outcome
    assert isinstance(failure, Busy) and "closed" in str(failure)
    assert waited < deadline(TIMEOUT)  # at once, not after the deadline
    with contextlib.suppress(Busy):
        asyncio.run(reader.aread(digest, ids[0]))
    assert not reader.is_open
