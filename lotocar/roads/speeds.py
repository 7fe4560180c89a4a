"""Car speeds per OpenStreetMap road class, and the osm2pgrouting configuration they give.

The speeds are *average* speeds a car keeps on that class of road in the Lot (bends,
villages, junctions), not the legal limits. `ROADS_SPEEDS` overrides any of them:
``"primary=80,tertiary=50"``. A way tagged with a lower ``maxspeed`` is driven at that
speed. Classes absent from the table (tracks, paths, footways…) are not imported.

The fastest speed (of any class, and of the access leg from a point to the network) is the
graph's speed bound: straight-line distance at that speed never exceeds road time, which is
what keeps the corridor index exact (see README, "Real roads").
"""
from __future__ import annotations

from xml.sax.saxutils import quoteattr

DEFAULT_SPEEDS_KMH: dict[str, float] = {
    "motorway": 120.0,
    "motorway_link": 60.0,
    "trunk": 95.0,
    "trunk_link": 50.0,
    "primary": 80.0,
    "primary_link": 45.0,
    "secondary": 70.0,
    "secondary_link": 40.0,
    "tertiary": 60.0,
    "tertiary_link": 35.0,
    "unclassified": 45.0,
    "road": 40.0,
    "residential": 30.0,
    "living_street": 15.0,
    "service": 20.0,
}

# osm2pgrouting's tag ids (as in its shipped mapconfig_for_cars.xml); any stable id works.
_TAG_IDS = {
    "road": 100, "motorway": 101, "motorway_link": 102, "trunk": 104, "trunk_link": 105,
    "primary": 106, "primary_link": 107, "secondary": 108, "secondary_link": 109,
    "tertiary": 110, "tertiary_link": 111, "residential": 112, "living_street": 113,
    "service": 114, "unclassified": 117,
}


class SpeedsError(ValueError):
    """A `ROADS_SPEEDS` value that cannot be used."""


def parse_speeds(text: str | None) -> dict[str, float]:
    """The default table with the overrides of ``"class=km/h,…"`` applied (0 drops a class)."""
    speeds = dict(DEFAULT_SPEEDS_KMH)
    for item in (text or "").replace(";", ",").split(","):
        item = item.strip()
        if not item:
            continue
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or name not in _TAG_IDS:
            known = ", ".join(sorted(_TAG_IDS))
            raise SpeedsError(f"ROADS_SPEEDS: unknown road class {name!r} (known: {known})")
        try:
            kmh = float(value)
        except ValueError as exc:
            raise SpeedsError(f"ROADS_SPEEDS: {name} needs a number of km/h, got {value!r}") from exc
        if not (0.0 <= kmh <= 200.0):
            raise SpeedsError(f"ROADS_SPEEDS: {name}={value} is not between 0 and 200 km/h")
        if kmh == 0.0:
            speeds.pop(name, None)
        else:
            speeds[name] = kmh
    if not speeds:
        raise SpeedsError("ROADS_SPEEDS leaves no road class to import")
    return speeds


def format_speeds(speeds: dict[str, float]) -> str:
    return ",".join(f"{k}={v:g}" for k, v in sorted(speeds.items()))


def tag_id(name: str) -> int:
    return _TAG_IDS[name]


def mapconfig_xml(speeds: dict[str, float]) -> str:
    """osm2pgrouting's configuration: which highway classes to import, at what speed."""
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', "<configuration>",
             '  <tag_name name="highway" id="1">']
    for name, kmh in sorted(speeds.items(), key=lambda kv: _TAG_IDS[kv[0]]):
        lines.append(f'    <tag_value name={quoteattr(name)} id="{_TAG_IDS[name]}" priority="1" '
                     f'maxspeed="{kmh:g}" />')
    lines += ["  </tag_name>", "</configuration>", ""]
    return "\n".join(lines)
