"""OSRM HTTP router.

``OSRMRouter.leg(a, b)`` calls ``{base_url}/route/v1/{profile}/{lon},{lat};{lon},{lat}
?overview=false`` and reads ``routes[0].distance`` (metres) and ``routes[0].duration``
(seconds). Legs are cached in a thread-safe LRU keyed by the exact pair of points.
``requests`` is imported lazily, on the first HTTP call, so importing :mod:`matching`
never pulls it in.

Failure policy (connection error, timeout, HTTP status other than 200, invalid JSON,
``code != "Ok"`` such as ``NoRoute``):

* with a ``fallback`` router (typically ``StraightLineRouter(1.3, 60)``), the leg is
  computed by the fallback, a warning is logged once per outage (the first failure after
  a success; recovery is logged at INFO), ``fallback_count`` is incremented, and the
  fallback leg is **not** cached, so real road values are used again as soon as OSRM is
  back;
* without a fallback, :class:`~matching.router.RouterError` is raised with a message
  naming the URL and the cause. The caller (web layer) decides what to show.

Because a degraded leg differs from the OSRM one, an index built while OSRM was down
must be rebuilt once it is back (check ``fallback_count``) for the "index == linear
scan" guarantee to hold with respect to the live router.

Speed bound used by the corridor index: OSRM never drives faster than ``max_speed_kmh``
(default 150 km/h, above any French speed limit) and may snap each endpoint onto the road
network by up to ``snap_km`` (default 0.5 km; raise it if points can be far from any
road). With a fallback, the weakest of both bounds is used. Note that the bound is on
*minutes*: a detour limit in minutes says nothing safe about road kilometres, so the
ellipse is derived from ``(minutes(O, D) + max_detour) * max_speed_kmh / 60``.

``table()`` uses the ``/table`` service (one request for a whole matrix). OSRM rounds
table values differently from ``/route``, so table results are returned as they are and
never written into the ``leg()`` cache. The matcher uses ``leg()`` for runs without
passengers and ``table()`` for the legs of tours (runs with passengers, one call per
request); the oracle does the same, so both stay on identical numbers.
"""

from __future__ import annotations

import logging
import math
import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Any, Sequence

from .geo import Point
from .router import Leg, Router, RouterError, SpeedBound, router_bound

if TYPE_CHECKING:  # pragma: no cover
    import requests

log = logging.getLogger(__name__)


def _coord(p: Point) -> str:
    return f"{p.lon:.7f},{p.lat:.7f}"


class OSRMRouter:
    """Router backed by an OSRM HTTP server (see module docstring for the policy)."""

    # one /table request beats many /route requests: the matcher fetches the legs of a
    # request's tour checks (runs with passengers, issue #12) in one table call
    prefers_table = True

    def __init__(
        self,
        base_url: str,
        timeout: float = 2.0,
        fallback: Router | None = None,
        session: requests.Session | None = None,
        *,
        profile: str = "driving",
        cache_size: int = 200_000,
        max_speed_kmh: float = 150.0,
        snap_km: float = 0.5,
    ) -> None:
        if not base_url:
            raise ValueError("base_url is required")
        if cache_size < 0:
            raise ValueError("cache_size must be >= 0")
        self.base_url: str = base_url.rstrip("/")
        self.timeout: float = float(timeout)
        self.fallback: Router | None = fallback
        self.profile: str = profile
        self.cache_size: int = cache_size
        self._session: Any = session
        self._cache: OrderedDict[tuple[Point, Point], Leg] = OrderedDict()
        self._lock = threading.Lock()
        self._degraded = False
        self.fallback_count: int = 0
        self.request_count: int = 0
        own = SpeedBound(max_speed_kmh, snap_km)
        self.bound: SpeedBound | None
        if fallback is None:
            self.bound = own
        else:
            fb = router_bound(fallback)
            self.bound = own.weakest(fb) if fb is not None else None

    # -- public API -------------------------------------------------------------------

    def leg(self, a: Point, b: Point) -> Leg:
        if a == b:
            return Leg(0.0, 0.0)
        key = (a, b)
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                return hit
        try:
            leg = self._route(a, b)
        except RouterError as exc:
            return self._fallback_leg(exc, a, b)
        self._recovered()
        if self.cache_size:
            with self._lock:
                self._cache[key] = leg
                self._cache.move_to_end(key)
                while len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)
        return leg

    def table(self, sources: Sequence[Point], destinations: Sequence[Point]) -> list[list[Leg]]:
        """Matrix of legs ``sources[i] -> destinations[j]`` from OSRM's ``/table`` service.

        Not cached and not used by the matcher (see module docstring)."""
        if not sources or not destinations:
            return [[] for _ in sources]
        pts = list(sources) + list(destinations)
        n = len(sources)
        url = (
            f"{self.base_url}/table/v1/{self.profile}/"
            + ";".join(_coord(p) for p in pts)
            + "?sources="
            + ";".join(str(i) for i in range(n))
            + "&destinations="
            + ";".join(str(n + j) for j in range(len(destinations)))
            + "&annotations=duration,distance"
        )
        try:
            data = self._get_json(url)
            durations = data["durations"]
            distances = data["distances"]
            out: list[list[Leg]] = []
            for i in range(n):
                row: list[Leg] = []
                for j in range(len(destinations)):
                    du, di = durations[i][j], distances[i][j]
                    if du is None or di is None:
                        raise RouterError(f"OSRM table: no route {sources[i]} -> {destinations[j]}")
                    row.append(_make_leg(di, du))
                out.append(row)
        except (KeyError, IndexError, TypeError) as exc:
            err = RouterError(f"OSRM table: malformed answer from {self.base_url}: {exc!r}")
            if self.fallback is None:
                raise err from exc
            self._warn(err)
            return [[self.fallback.leg(s, d) for d in destinations] for s in sources]
        except RouterError as exc:
            if self.fallback is None:
                raise
            self._warn(exc)
            return [[self.fallback.leg(s, d) for d in destinations] for s in sources]
        self._recovered()
        return out

    def clear_cache(self) -> None:
        with self._lock:
            self._cache.clear()

    @property
    def cache_len(self) -> int:
        return len(self._cache)

    @property
    def degraded(self) -> bool:
        """True while the last OSRM call failed and the fallback is being used."""
        return self._degraded

    # -- internals --------------------------------------------------------------------

    def _route(self, a: Point, b: Point) -> Leg:
        url = f"{self.base_url}/route/v1/{self.profile}/{_coord(a)};{_coord(b)}?overview=false"
        data = self._get_json(url)
        try:
            route = data["routes"][0]
            return _make_leg(route["distance"], route["duration"])
        except (KeyError, IndexError, TypeError) as exc:
            raise RouterError(f"OSRM: malformed route answer from {self.base_url}: {exc!r}") from exc

    def _get_json(self, url: str) -> dict[str, Any]:
        import requests  # lazy: keep `import matching` free of HTTP libraries

        if self._session is None:
            self._session = requests.Session()
        self.request_count += 1
        try:
            resp = self._session.get(url, timeout=self.timeout)
        except requests.Timeout as exc:
            raise RouterError(f"OSRM timeout after {self.timeout}s at {self.base_url}") from exc
        except requests.RequestException as exc:
            raise RouterError(f"OSRM unreachable at {self.base_url}: {exc.__class__.__name__}") from exc
        if resp.status_code != 200:
            raise RouterError(f"OSRM HTTP {resp.status_code} from {self.base_url}")
        try:
            data = resp.json()
        except ValueError as exc:
            raise RouterError(f"OSRM: invalid JSON from {self.base_url}") from exc
        if not isinstance(data, dict):
            raise RouterError(f"OSRM: unexpected answer from {self.base_url}")
        code = data.get("code")
        if code != "Ok":
            raise RouterError(f"OSRM answered code={code!r}: {data.get('message', '')}".rstrip(": "))
        return data

    def _fallback_leg(self, exc: RouterError, a: Point, b: Point) -> Leg:
        if self.fallback is None:
            raise exc
        self._warn(exc)
        return self.fallback.leg(a, b)

    def _warn(self, exc: RouterError) -> None:
        with self._lock:
            self.fallback_count += 1
            first = not self._degraded
            self._degraded = True
        if first:
            log.warning("OSRM unavailable (%s); using fallback router %r", exc, self.fallback)

    def _recovered(self) -> None:
        if self._degraded:
            with self._lock:
                was, self._degraded = self._degraded, False
            if was:
                log.info("OSRM at %s is answering again", self.base_url)

    def __repr__(self) -> str:
        return f"OSRMRouter({self.base_url!r}, timeout={self.timeout}, fallback={self.fallback!r})"


def _make_leg(distance_m: Any, duration_s: Any) -> Leg:
    try:
        km = float(distance_m) / 1000.0
        minutes = float(duration_s) / 60.0
    except (TypeError, ValueError) as exc:
        raise RouterError(f"OSRM: non-numeric distance/duration: {exc!r}") from exc
    if not (math.isfinite(km) and math.isfinite(minutes)) or km < 0 or minutes < 0:
        raise RouterError("OSRM: invalid distance/duration")
    return Leg(km, minutes)
