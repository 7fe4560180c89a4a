"""OSRMRouter against a fake OSRM HTTP server on 127.0.0.1 (no other network)."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time as clock
from collections.abc import Iterator
from datetime import date, datetime, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
from matching_testutils import assert_index_matches_oracle, load_communes

from matching import (
    CorridorIndex,
    Leg,
    Matcher,
    Offer,
    OSRMRouter,
    Point,
    Recurrence,
    Request,
    RouterError,
    StraightLineRouter,
)

C = load_communes()
A, B = C["Luzech"], C["Cahors"]
TRUTH = StraightLineRouter(1.3, 60.0)  # what the fake server "drives"


class FakeOSRM(BaseHTTPRequestHandler):
    mode = "ok"  # ok | 500 | noroute | slow | garbage
    hits = 0

    def log_message(self, *args: object) -> None:  # keep pytest output clean
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server API
        cls = type(self)
        cls.hits += 1
        if cls.mode == "500":
            return self._send(500, b"boom")
        if cls.mode == "slow":
            clock.sleep(0.6)
        if cls.mode == "garbage":
            return self._send(200, b"<html>not json</html>")
        if cls.mode == "noroute":
            return self._json({"code": "NoRoute", "message": "Impossible route between points"})
        url = urlsplit(self.path)  # not urlparse: it would split ";" params off
        parts = url.path.split("/")
        service, coords = parts[1], parts[4]
        pts = [Point(float(lat), float(lon)) for lon, lat in (c.split(",") for c in coords.split(";"))]
        if service == "route":
            assert parse_qs(url.query) == {"overview": ["false"]}
            leg = TRUTH.leg(pts[0], pts[1])
            return self._json({"code": "Ok", "routes": [{"distance": leg.km * 1000, "duration": leg.minutes * 60}]})
        q = parse_qs(url.query)
        srcs = [int(i) for i in q["sources"][0].split(";")]
        dsts = [int(i) for i in q["destinations"][0].split(";")]
        legs = [[TRUTH.leg(pts[i], pts[j]) for j in dsts] for i in srcs]
        return self._json({"code": "Ok", "durations": [[lg.minutes * 60 for lg in row] for row in legs],
                           "distances": [[lg.km * 1000 for lg in row] for row in legs]})

    def _json(self, obj: object) -> None:
        self._send(200, json.dumps(obj).encode(), "application/json")

    def _send(self, status: int, body: bytes, ctype: str = "text/plain") -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout test)
            pass


@pytest.fixture()
def server() -> Iterator[tuple[str, type[FakeOSRM]]]:
    handler = type("Handler", (FakeOSRM,), {"mode": "ok", "hits": 0})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    t = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", handler
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture()
def dead_url() -> str:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there any more
    return f"http://127.0.0.1:{port}"


def close(a: Leg, b: Leg) -> bool:
    return abs(a.km - b.km) < 1e-9 and abs(a.minutes - b.minutes) < 1e-9


def test_route_ok_and_cached(server: tuple[str, type[FakeOSRM]]) -> None:
    url, h = server
    r = OSRMRouter(url + "/")
    leg = r.leg(A, B)
    assert close(leg, TRUTH.leg(A, B)) and h.hits == 1
    assert r.leg(A, B) is leg and h.hits == 1  # LRU hit
    assert close(r.leg(B, A), TRUTH.leg(B, A)) and h.hits == 2
    assert r.leg(A, A) == Leg(0.0, 0.0) and h.hits == 2
    assert r.cache_len == 2 and not r.degraded and r.fallback_count == 0


def test_lru_evicts_oldest(server: tuple[str, type[FakeOSRM]]) -> None:
    url, h = server
    r = OSRMRouter(url, cache_size=2)
    pts = [C["Douelle"], C["Mercuès"], C["Figeac"]]
    for p in pts:
        r.leg(A, p)
    assert r.cache_len == 2 and h.hits == 3
    r.leg(A, pts[2])
    assert h.hits == 3
    r.leg(A, pts[0])  # evicted
    assert h.hits == 4


@pytest.mark.parametrize(
    "mode, message",
    [("500", "HTTP 500"), ("noroute", "NoRoute"), ("garbage", "invalid JSON"), ("slow", "timeout")],
)
def test_errors_without_fallback(server: tuple[str, type[FakeOSRM]], mode: str, message: str) -> None:
    url, h = server
    h.mode = mode
    r = OSRMRouter(url, timeout=0.2)
    with pytest.raises(RouterError, match=message):
        r.leg(A, B)
    assert r.cache_len == 0


def test_server_down_without_fallback(dead_url: str) -> None:
    r = OSRMRouter(dead_url, timeout=0.5)
    with pytest.raises(RouterError, match="unreachable"):
        r.leg(A, B)
    with pytest.raises(RouterError):
        r.table([A], [B])


def test_server_down_with_fallback_warns_once(dead_url: str, caplog: pytest.LogCaptureFixture) -> None:
    fb = StraightLineRouter(1.4, 50.0)
    r = OSRMRouter(dead_url, timeout=0.5, fallback=fb)
    with caplog.at_level(logging.WARNING, logger="matching.osrm"):
        assert r.leg(A, B) == fb.leg(A, B)
        assert r.leg(B, A) == fb.leg(B, A)
        assert r.table([A], [B]) == [[fb.leg(A, B)]]
    warnings = [rec for rec in caplog.records if rec.levelno == logging.WARNING]
    assert len(warnings) == 1 and "OSRM unavailable" in warnings[0].getMessage()
    assert r.degraded and r.fallback_count == 3 and r.cache_len == 0


@pytest.mark.parametrize("mode", ["500", "noroute", "slow", "garbage"])
def test_fallback_then_recovery(server: tuple[str, type[FakeOSRM]], mode: str,
                                caplog: pytest.LogCaptureFixture) -> None:
    url, h = server
    fb = StraightLineRouter(1.4, 50.0)
    r = OSRMRouter(url, timeout=0.2, fallback=fb)
    h.mode = mode
    with caplog.at_level(logging.INFO, logger="matching.osrm"):
        assert r.leg(A, B) == fb.leg(A, B)  # degraded, not cached
        assert r.degraded
        h.mode = "ok"
        assert close(r.leg(A, B), TRUTH.leg(A, B))  # real value again
        assert not r.degraded
        h.mode = mode
        assert close(r.leg(A, B), TRUTH.leg(A, B))  # the real value was cached
    levels = [rec.levelno for rec in caplog.records if rec.name == "matching.osrm"]
    assert levels == [logging.WARNING, logging.INFO]


def test_table(server: tuple[str, type[FakeOSRM]]) -> None:
    url, h = server
    r = OSRMRouter(url)
    srcs, dsts = [A, B], [C["Douelle"], C["Figeac"], A]
    m = r.table(srcs, dsts)
    assert h.hits == 1
    for i, s in enumerate(srcs):
        for j, d in enumerate(dsts):
            assert close(m[i][j], TRUTH.leg(s, d))


def test_bound_is_weakest_of_osrm_and_fallback() -> None:
    r = OSRMRouter("http://127.0.0.1:9", fallback=StraightLineRouter(1.0, 200.0))
    assert r.bound is not None and r.bound.max_kmh == 200.0 and r.bound.snap_km == 0.5
    assert OSRMRouter("http://127.0.0.1:9", max_speed_kmh=130, snap_km=0.2).bound == \
        OSRMRouter("http://127.0.0.1:9", max_speed_kmh=130, snap_km=0.2).bound


def test_index_with_osrm_equals_oracle(server: tuple[str, type[FakeOSRM]]) -> None:
    url, _ = server
    r = OSRMRouter(url)
    names = ["Luzech", "Douelle", "Mercuès", "Cahors", "Pradines", "Espère", "Crayssac", "Arcambal"]
    offers = [
        Offer(1, 1, C["Luzech"], C["Cahors"], 3, 10,
              recurrence=Recurrence(frozenset({1, 2, 3, 4, 5}), time(7, 45), date(2026, 1, 1), date(2026, 12, 31))),
        Offer(2, 2, C["Crayssac"], C["Arcambal"], 2, 5, departure=datetime(2026, 3, 16, 8, 0)),
        Offer(3, 3, C["Cahors"], C["Luzech"], 1, 15, departure=datetime(2026, 3, 16, 17, 30)),
    ]
    index = CorridorIndex(r)
    index.bulk_load(offers)
    reqs = [Request(i * 10 + j, 1, C[a], C[b], date(2026, 3, 16), mode, at, 45)
            for i, a in enumerate(names) for j, b in enumerate(names) if a != b
            for mode, at in [("arrive_by", time(8, 30)), ("leave_after", time(17, 15))]]
    assert assert_index_matches_oracle(r, index, offers, reqs) > 0


def test_matcher_propagates_router_errors(dead_url: str) -> None:
    r = OSRMRouter(dead_url, timeout=0.5)
    index = CorridorIndex(r)
    with pytest.raises(RouterError):
        index.add(Offer(1, 1, A, B, 3, 10, departure=datetime(2026, 3, 16, 7, 45)))
    index.bulk_load([])
    assert Matcher(r, index).candidates(
        Request(1, 1, C["Douelle"], B, date(2026, 3, 16), "arrive_by", time(8, 30), 30)) == []


def test_tour_legs_of_one_request_in_one_table_call(server: tuple[str, type[FakeOSRM]]) -> None:
    """Issue #12: with passengers on board, the legs of one request's tour checks come from one
    /table request, and the result equals the oracle's (which uses the same router)."""
    from matching import Booked, brute_force_candidates

    url, h = server
    router = OSRMRouter(url)
    offer = Offer(1, 1, A, B, seats=3, max_detour_min=15, departure=datetime(2026, 12, 7, 7, 45))
    other = Offer(2, 2, A, B, seats=3, max_detour_min=15, departure=datetime(2026, 12, 7, 8, 0))
    index = CorridorIndex(router)
    index.bulk_load([offer, other])
    douelle, crayssac = C["Douelle"], C["Crayssac"]
    first = Request(1, 1, douelle, B, date(2026, 12, 7), "arrive_by", time(9, 0), 90)
    (c1,) = [c for c in brute_force_candidates([offer], first, router) if c.offer_id == 1]
    tours = {(1, date(2026, 12, 7)): [Booked(1, first, c1.pickup_at, c1.dropoff_at)],
             (2, date(2026, 12, 7)): [Booked(2, first, c1.pickup_at, c1.dropoff_at)]}
    second = Request(2, 2, crayssac, B, date(2026, 12, 7), "arrive_by", time(9, 0), 90)
    matcher = Matcher(router, index)
    matcher.candidates(second, {}, frozenset(), {})  # warm the /route cache of the bare legs
    calls = []
    original = router._get_json

    def counting(url: str):
        calls.append(url.split("/")[3])
        return original(url)

    router._get_json = counting  # type: ignore[method-assign]
    got = matcher.candidates(second, {}, frozenset(), tours)
    assert calls == ["table"]
    want = brute_force_candidates([offer, other], second, router, {}, frozenset(), tours)
    assert [(c.offer_id, c.detour_min, c.pickup_at, [s.pickup_after for s in c.shifts]) for c in got] == \
        [(c.offer_id, c.detour_min, c.pickup_at, [s.pickup_after for s in c.shifts]) for c in want]
    assert got and all(c.shifts for c in got)
