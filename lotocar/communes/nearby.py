"""The communes around a set of points: what a map draws as its own background, so it still
reads (names and town-hall points) when no tile server can be reached."""
from __future__ import annotations

import math
from collections.abc import Iterable

from lotocar.communes.models import Commune
from lotocar.extensions import db

KM_PER_DEGREE_LAT = 111.2


def around(points: Iterable[tuple[float, float]], limit: int = 40, margin_km: float = 6.0) -> list[dict]:
    """Communes whose town hall lies in the points' bounding box, widened by `margin_km` (or
    15 % of its span if larger), the most populous first, at most `limit` of them:
    [{"name": "Cahors", "lat": …, "lon": …, "population": …}, …]. Towns outside the Lot keep
    their département in the name ("Brive-la-Gaillarde (19)")."""
    pts = [(float(lat), float(lon)) for lat, lon in points]
    if not pts or limit <= 0:
        return []
    south, north = min(p[0] for p in pts), max(p[0] for p in pts)
    west, east = min(p[1] for p in pts), max(p[1] for p in pts)
    km_per_degree_lon = KM_PER_DEGREE_LAT * max(math.cos(math.radians((south + north) / 2)), 0.1)
    span_km = max((north - south) * KM_PER_DEGREE_LAT, (east - west) * km_per_degree_lon)
    margin = max(margin_km, 0.15 * span_km)
    dlat, dlon = margin / KM_PER_DEGREE_LAT, margin / km_per_degree_lon
    rows = db.session.scalars(
        db.select(Commune)
        .where(Commune.lat.between(south - dlat, north + dlat), Commune.lon.between(west - dlon, east + dlon))
        .order_by(Commune.population.desc(), Commune.name, Commune.insee)
        .limit(limit))
    return [{"name": c.display_name, "lat": round(c.lat, 5), "lon": round(c.lon, 5), "population": c.population}
            for c in rows]
