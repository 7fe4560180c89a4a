"""A place on a trip or a request: a commune (town hall by default) and optionally a precise
point; the input and its check are shared by trips (offers) and requests."""
from __future__ import annotations

import math
from dataclasses import dataclass

MAX_POINT_DISTANCE_KM = 20.0  # a precise point must stay near its commune
LOT_AREA = (43.5, 45.4, 0.5, 2.7)  # lat min/max, lon min/max, with the towns around (Toulouse)


@dataclass(frozen=True)
class PlaceInput:
    insee: str | None
    commune_lat: float | None = None
    commune_lon: float | None = None
    place: str | None = None
    lat: float | None = None
    lon: float | None = None


def _km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0088 * math.asin(math.sqrt(a))


def km_between(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in km."""
    return _km(lat1, lon1, lat2, lon2)


def check_place(prefix: str, place: PlaceInput, errors: dict[str, str]) -> None:
    if not place.insee:
        errors.setdefault(prefix, "Indiquez une commune.")
        return
    if (place.lat is None) != (place.lon is None):
        errors[f"{prefix}_lat"] = "Indiquez la latitude et la longitude, ou aucune des deux."
        return
    if place.lat is not None and place.lon is not None:
        lat_min, lat_max, lon_min, lon_max = LOT_AREA
        if not (lat_min <= place.lat <= lat_max and lon_min <= place.lon <= lon_max):
            errors[f"{prefix}_lat"] = "Ce point est en dehors du Lot et de ses environs."
        elif place.commune_lat is not None and place.commune_lon is not None and _km(
            place.lat, place.lon, place.commune_lat, place.commune_lon
        ) > MAX_POINT_DISTANCE_KM:
            errors[f"{prefix}_lat"] = "Ce point est trop loin de la commune choisie (20 km au plus)."
    if place.place is not None and len(place.place) > 200:
        errors[f"{prefix}_place"] = "200 caractères au plus."


class PlaceMixin:
    """Helpers for models with `<prefix>_insee/_place/_lat/_lon/_geom` columns."""

    def set_place(self, prefix: str, commune, place: str | None = None,
                  lat: float | None = None, lon: float | None = None) -> None:
        from lotocar.core.types import point_ewkt

        setattr(self, f"{prefix}_insee", commune.insee)
        setattr(self, f"{prefix}_place", (place or "").strip() or None)
        setattr(self, f"{prefix}_lat", lat)
        setattr(self, f"{prefix}_lon", lon)
        eff_lat = lat if lat is not None else commune.lat
        eff_lon = lon if lon is not None else commune.lon
        setattr(self, f"{prefix}_geom", point_ewkt(eff_lat, eff_lon))

    def point(self, prefix: str) -> tuple[float, float]:
        """Effective (lat, lon): the precise point when given, else the town hall."""
        lat = getattr(self, f"{prefix}_lat")
        lon = getattr(self, f"{prefix}_lon")
        if lat is not None and lon is not None:
            return lat, lon
        commune = getattr(self, prefix)
        return commune.lat, commune.lon
