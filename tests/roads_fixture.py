"""A small OpenStreetMap extract the road tests build: a valley with one bridge.

Geography (km east / north of an origin in the Gers, where no place of the service is, so
the fixture's villages are the only places near its roads)::

            Brasc (-4, 12)                         Durfort (4, 8)
              |  \\                                   |
   slow road  |   fast road (primary) via (-6, 6)     |
              |                  Lagarde (-1, 8) ==PONT== (1, 8)
              |                     |        river     |
         Saint-Alby (-1.5, 0) ------+        x = 0     Cazenac (1.5, 0)

A river (waterway=river, not a road) runs north-south along x = 0; the only crossing is
the "Pont de Lagarde" (highway=tertiary, bridge=yes) at y = 8. Saint-Alby and Cazenac are
3 km apart as the crow flies but about 17 km apart by road. Between Saint-Alby and Brasc a
slow direct road (unclassified) competes with a longer fast road (primary): at the default
speeds the fast one wins.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from xml.sax.saxutils import quoteattr

from matching import Point

ORIGIN = Point(43.60, 0.20)
_KM_LAT = 1.0 / 111.195
_KM_LON = 1.0 / (111.195 * math.cos(math.radians(ORIGIN.lat)))


def at(x_km: float, y_km: float) -> Point:
    """The point x km east and y km north of the fixture's origin."""
    return Point(round(ORIGIN.lat + y_km * _KM_LAT, 7), round(ORIGIN.lon + x_km * _KM_LON, 7))


# The fixture's villages: name -> (x, y) in km, and a fake INSEE code for the places table.
VILLAGES: dict[str, tuple[str, tuple[float, float]]] = {
    "Saint-Alby": ("99001", (-1.5, 0.0)),
    "Cazenac": ("99002", (1.5, 0.0)),
    "Lagarde": ("99003", (-1.0, 8.0)),
    "Durfort": ("99004", (4.0, 8.0)),
    "Brasc": ("99005", (-4.0, 12.0)),
}
BRIDGE_NAME = "Pont de Lagarde"
FAST_ROAD_NAME = "Route de la Crête"
SLOW_ROAD_NAME = "Chemin du Bois"


def village(name: str) -> Point:
    return at(*VILLAGES[name][1])


@dataclass
class _Way:
    name: str
    tags: dict[str, str]
    path: list[tuple[float, float]]


def _densify(path: list[tuple[float, float]], step_km: float = 0.5) -> list[tuple[float, float]]:
    """Intermediate nodes every ~500 m, as a real extract has."""
    out = [path[0]]
    for (x0, y0), (x1, y1) in pairwise(path):
        n = max(1, math.ceil(math.hypot(x1 - x0, y1 - y0) / step_km))
        out += [(x0 + (x1 - x0) * k / n, y0 + (y1 - y0) * k / n) for k in range(1, n + 1)]
    return out


WAYS: list[_Way] = [
    _Way("Route de Lagarde", {"highway": "tertiary"}, [(-1.5, 0.0), (-1.2, 4.0), (-1.0, 8.0)]),
    _Way(BRIDGE_NAME, {"highway": "tertiary", "bridge": "yes", "layer": "1"},
         [(-1.0, 8.0), (-0.3, 8.0), (0.3, 8.0), (1.0, 8.0)]),
    _Way("Route de Cazenac", {"highway": "tertiary"}, [(1.0, 8.0), (1.2, 4.0), (1.5, 0.0)]),
    _Way("Route de Durfort", {"highway": "secondary"}, [(1.0, 8.0), (2.5, 8.0), (4.0, 8.0)]),
    _Way(SLOW_ROAD_NAME, {"highway": "unclassified"}, [(-1.5, 0.0), (-2.8, 6.0), (-4.0, 12.0)]),
    _Way(FAST_ROAD_NAME, {"highway": "primary"}, [(-1.5, 0.0), (-6.0, 6.0), (-4.0, 12.0)]),
    _Way("Rue de la Mairie", {"highway": "residential", "oneway": "yes"},
         [(-1.0, 8.0), (-1.6, 8.4), (-1.9, 8.0)]),
]
RIVER = [(0.0, -10.0), (0.0, 4.0), (0.05, 8.0), (0.0, 15.0)]


def build_osm(path: Path) -> Path:
    """Write the fixture as OpenStreetMap XML (the format `osm2pgrouting` reads)."""
    nodes: dict[tuple[float, float], int] = {}
    lines: list[str] = []

    def node(xy: tuple[float, float]) -> int:
        key = (round(xy[0], 6), round(xy[1], 6))
        if key not in nodes:
            nodes[key] = len(nodes) + 1
        return nodes[key]

    way_refs: list[tuple[int, list[int], dict[str, str]]] = []
    for i, way in enumerate(WAYS, start=1):
        way_refs.append((i, [node(p) for p in _densify(way.path)], {**way.tags, "name": way.name}))
    way_refs.append((len(WAYS) + 1, [node(p) for p in _densify(RIVER, 2.0)],
                     {"waterway": "river", "name": "La Baïse"}))
    place_nodes = []
    for name, (_, xy) in VILLAGES.items():
        place_nodes.append((node((xy[0] + 0.05, xy[1] + 0.05)), name))  # the village's centre

    lines.append('<?xml version="1.0" encoding="UTF-8"?>')
    lines.append('<osm version="0.6" generator="lotocar-tests">')
    lats = [at(*xy).lat for xy in nodes]
    lons = [at(*xy).lon for xy in nodes]
    lines.append(f'  <bounds minlat="{min(lats)}" minlon="{min(lons)}" maxlat="{max(lats)}" maxlon="{max(lons)}"/>')
    places = dict(place_nodes)
    for xy, nid in nodes.items():
        p = at(*xy)
        if nid in places:
            lines.append(f'  <node id="{nid}" version="1" lat="{p.lat}" lon="{p.lon}">')
            lines.append(f'    <tag k="place" v="village"/><tag k="name" v={quoteattr(places[nid])}/>')
            lines.append('  </node>')
        else:
            lines.append(f'  <node id="{nid}" version="1" lat="{p.lat}" lon="{p.lon}"/>')
    for wid, refs, tags in way_refs:
        lines.append(f'  <way id="{wid}" version="1">')
        lines += [f'    <nd ref="{r}"/>' for r in refs]
        lines += [f'    <tag k={quoteattr(k)} v={quoteattr(v)}/>' for k, v in tags.items()]
        lines.append('  </way>')
    lines.append('</osm>')
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
