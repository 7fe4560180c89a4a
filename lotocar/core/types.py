"""Column types shared by the models.

- `UTCDateTime`: every timestamp is stored as UTC and read back as an aware UTC datetime,
  on PostgreSQL and on SQLite alike (SQLite keeps no time zone).
- `POINT`: a real PostGIS `geography(POINT, 4326)` on PostgreSQL (GiST-indexed, metric
  distances) and EWKT text on the embedded SQLite default, which cannot load SpatiaLite.
  The models keep plain lat/lon floats as well: the matcher works on those.
"""
from __future__ import annotations

from datetime import datetime, timezone

from geoalchemy2 import Geography
from sqlalchemy import DateTime, Text
from sqlalchemy.types import TypeDecorator

POINT = Text().with_variant(
    Geography(geometry_type="POINT", srid=4326, spatial_index=False), "postgresql"
)


def point_ewkt(lat: float | None, lon: float | None) -> str | None:
    """EWKT accepted by both back ends for the `POINT` type (lon first)."""
    if lat is None or lon is None:
        return None
    return f"SRID=4326;POINT({lon:.6f} {lat:.6f})"


class UTCDateTime(TypeDecorator[datetime]):
    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect):  # type: ignore[override]
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column; attach a time zone")
        value = value.astimezone(timezone.utc)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect):  # type: ignore[override]
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)
