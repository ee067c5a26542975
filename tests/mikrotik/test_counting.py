"""What really reaches the API, counted at the simulator: connections, requests, cache, single-flight."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest

from centralita.mikrotik.v1 import mikrotik_pb2
from mikrotik_tool.cache import AnswerCache
from mikrotik_tool.errors import ApiHttpError, ApiTimeout

from .conftest import details

QUESTION = "¿Cuántos clientes activos hay en router-146?"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_1000_sequential_queries_reuse_the_pool(make_service, sim):
    service = make_service(cache_ttl=0, pool_size=4)
    for i in range(1000):
        reply = service.ask(QUESTION if i % 2 else "¿Qué routers están configurados?")
        assert reply.cached is False
    assert sim.queries == 1000
    assert sim.connections_accepted <= service.settings.pool_size
    assert sim.connections_accepted == 1  # sequential: one keep-alive connection does it all


def test_concurrent_distinct_questions_keep_at_most_pool_size_connections_alive(make_service, sim):
    service = make_service(cache_ttl=0, pool_size=3)
    sim.configure(latency=0.05)
    questions = [f"¿Cuántos clientes activos hay en router-146? ({i})" for i in range(3)]
    with ThreadPoolExecutor(3) as pool:
        for _ in range(20):
            list(pool.map(service.ask, questions))
    assert sim.queries == 60
    assert sim.connections_accepted <= 3


def test_100_concurrent_identical_questions_make_one_upstream_request(make_service, sim):
    service = make_service()
    sim.configure(latency=0.5)
    barrier = threading.Barrier(100)

    def ask(_: int):
        barrier.wait(timeout=5)
        return service.ask(QUESTION, deadline=10)

    with ThreadPoolExecutor(100) as pool:
        replies = list(pool.map(ask, range(100)))
    assert {r.response for r in replies} == {"En el router FIBRA OPTICA hay 221 clientes activos."}
    assert sim.queries == 1
    assert service.queries.cache.misses == 1


def test_500_concurrent_distinct_questions_are_all_answered_within_the_connection_bound(make_service, sim):
    """Waiting for a connection holds no thread: 500 callers, 16 connections, everyone answered,
    and the API (counted at the simulator) never sees more than 16 questions at once."""
    service = make_service(cache_ttl=0, max_connections=16, pool_size=16)
    sim.configure(latency=0.2)
    futures = [
        service.stub.ConsultarMikrotik.future(
            mikrotik_pb2.ConsultarMikrotikRequest(question=f"¿Cuántos clientes activos hay en router-146? ({i})"),
            timeout=60,
        )
        for i in range(500)
    ]
    replies = [f.result(timeout=90) for f in futures]
    assert all("221" in r.response and r.cached is False for r in replies)
    assert sim.queries == 500
    assert 8 <= sim.peak_in_flight <= 16
    assert sim.connections_accepted <= 16 + 2  # the pool, plus the health probe's own


def test_single_flight_without_cache(make_service, sim):
    """TTL 0 disables the cache, not the sharing of an in-flight request."""
    service = make_service(cache_ttl=0)
    sim.configure(latency=0.6)
    barrier = threading.Barrier(50)

    def ask(i: int):
        barrier.wait(timeout=5)
        # Different spellings of one question share one key.
        return service.ask(QUESTION if i % 2 else "  cuántos CLIENTES activos hay en Router 146 ", deadline=10)

    with ThreadPoolExecutor(50) as pool:
        replies = list(pool.map(ask, range(50)))
    assert all("221" in r.response for r in replies)
    assert sim.queries == 1
    assert service.ask(QUESTION).cached is False  # nothing was kept
    assert sim.queries == 2


def test_followers_get_the_leaders_failure_and_it_is_not_cached(make_service, sim):
    service = make_service()
    sim.configure(fault="500", latency=0.5)  # the 500 comes after 0.5 s: everyone joins the flight
    barrier = threading.Barrier(20)

    def ask(_: int):
        barrier.wait(timeout=5)
        try:
            service.ask(QUESTION, deadline=5)
        except grpc.RpcError as exc:
            return exc.code(), details(exc)
        return "ok", ""

    with ThreadPoolExecutor(20) as pool:
        results = list(pool.map(ask, range(20)))
    assert {code for code, _ in results} == {grpc.StatusCode.UNAVAILABLE}
    assert all("no está disponible" in text for _, text in results)
    assert sim.queries == 1  # one leader asked, 19 followers shared its failure
    sim.configure(fault="none", latency=0.0)
    reply = service.ask(QUESTION)
    assert reply.cached is False and "221" in reply.response
    assert sim.queries == 2  # the failure was not cached
    assert service.ask(QUESTION).cached is True
    assert sim.queries == 2


@pytest.mark.parametrize("fault", ["500", "garbage", "fail", "hang"])
def test_failures_are_not_cached(make_service, sim, fault):
    service = make_service()
    sim.configure(fault=fault)
    with pytest.raises(grpc.RpcError):
        service.ask(QUESTION, deadline=1.0)
    sim.configure(fault="none")
    first = service.ask(QUESTION)
    assert first.cached is False and "221" in first.response
    second = service.ask(QUESTION)
    assert second.cached is True
    assert sim.queries == 2


def test_cached_answer_expires_after_the_ttl(make_service, sim):
    clock = FakeClock()
    service = make_service(cache_ttl=30, clock=clock)
    first = service.ask(QUESTION)
    assert (first.cached, first.age_seconds) == (False, 0.0) and first.upstream_ms > 0
    clock.now += 12.5
    second = service.ask("cuantos clientes activos hay en router 146")
    assert (second.cached, second.age_seconds, second.upstream_ms) == (True, 12.5, 0.0)
    assert second.response == first.response
    clock.now += 17.5  # 30 s old: expired
    third = service.ask(QUESTION)
    assert third.cached is False and third.upstream_ms > 0
    assert sim.queries == 2


def test_cached_answer_expires_in_real_time(make_service, sim):
    service = make_service(cache_ttl=0.3)
    service.ask(QUESTION)
    assert service.ask(QUESTION).cached is True
    time.sleep(0.35)
    assert service.ask(QUESTION).cached is False
    assert sim.queries == 2


def test_cache_zero_ttl_disables_it(make_service, sim):
    service = make_service(cache_ttl=0)
    for _ in range(3):
        assert service.ask(QUESTION).cached is False
    assert sim.queries == 3


# -- the cache on its own, with an injected clock --------------------------------------------


def _value(value: str):
    async def fetch() -> str:
        return value

    return fetch


def test_cache_ttl_and_age_with_a_fake_clock():
    clock = FakeClock()
    cache: AnswerCache[str] = AnswerCache(ttl=30, clock=clock)
    calls = []

    async def fetch():
        calls.append(1)
        return f"v{len(calls)}"

    async def scenario():
        assert (await cache.get_or_fetch("k", fetch, wait=1)).value == "v1"
        clock.now += 29.5
        hit = await cache.get_or_fetch("k", fetch, wait=1)
        assert (hit.value, hit.cached, hit.age) == ("v1", True, 29.5)
        clock.now += 0.5
        miss = await cache.get_or_fetch("k", fetch, wait=1)
        assert (miss.value, miss.cached) == ("v2", False)

    asyncio.run(scenario())
    assert len(calls) == 2


def test_cache_is_lru_bounded():
    cache: AnswerCache[str] = AnswerCache(ttl=30, max_entries=2, clock=FakeClock())

    async def scenario():
        for key in ("a", "b"):
            await cache.get_or_fetch(key, _value(key), wait=1)
        await cache.get_or_fetch("a", _value("never"), wait=1)  # touch a: b is now the oldest
        await cache.get_or_fetch("c", _value("c"), wait=1)

    asyncio.run(scenario())
    assert len(cache) == 2
    assert cache.peek("b") is None
    assert cache.peek("a").value == "a" and cache.peek("c").value == "c"


def test_cache_does_not_keep_failures():
    cache: AnswerCache[str] = AnswerCache(ttl=30, clock=FakeClock())

    async def boom():
        raise ApiHttpError(500)

    async def scenario():
        with pytest.raises(ApiHttpError):
            await cache.get_or_fetch("k", boom, wait=1)
        assert cache.peek("k") is None
        assert (await cache.get_or_fetch("k", _value("ok"), wait=1)).value == "ok"

    asyncio.run(scenario())


def test_follower_waits_no_longer_than_its_own_budget_and_the_fetch_goes_on():
    cache: AnswerCache[str] = AnswerCache(ttl=30)

    async def scenario():
        release = asyncio.Event()

        async def slow():
            await release.wait()
            return "late"

        leader = asyncio.ensure_future(cache.get_or_fetch("k", slow, wait=5))
        await asyncio.sleep(0)
        started = time.monotonic()
        with pytest.raises(ApiTimeout):
            await cache.get_or_fetch("k", _value("never called"), wait=0.2)
        took = time.monotonic() - started
        assert 0.15 < took < 2.0
        release.set()
        got = await asyncio.wait_for(leader, 5)
        assert (got.value, got.shared) == ("late", False)
        assert cache.peek("k").value == "late"
        assert (cache.misses, cache.shared) == (1, 1)

    asyncio.run(scenario())


def test_a_leader_that_gives_up_does_not_cancel_the_shared_request():
    """The first caller hangs up (its call is cancelled): the others still get the answer."""
    cache: AnswerCache[str] = AnswerCache(ttl=30)
    fetched = []

    async def scenario():
        release = asyncio.Event()

        async def slow():
            await release.wait()
            fetched.append(1)
            return "answer"

        leader = asyncio.ensure_future(cache.get_or_fetch("k", slow, wait=5))
        await asyncio.sleep(0)
        follower = asyncio.ensure_future(cache.get_or_fetch("k", _value("never"), wait=5))
        await asyncio.sleep(0)
        leader.cancel()
        release.set()
        got = await asyncio.wait_for(follower, 5)
        assert (got.value, got.shared) == ("answer", True)
        assert leader.cancelled()

    asyncio.run(scenario())
    assert fetched == [1]
    assert cache.in_flight == 0
