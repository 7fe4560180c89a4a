"""A place on a trip: a commune (town hall by default) and optionally a precise point."""
from __future__ import annotations


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
