from __future__ import annotations

import enum
from datetime import date, datetime, time
from functools import lru_cache

from sqlalchemy import (
    CheckConstraint, Date, Enum, Float, ForeignKey, Index, Integer, String, Text, Time,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lotocar.core.places import PlaceMixin
from lotocar.core.timeutil import utcnow
from lotocar.core.types import POINT, UTCDateTime
from lotocar.extensions import db


class OfferKind(str, enum.Enum):
    ONE_OFF = "one_off"
    REGULAR = "regular"


class OfferStatus(str, enum.Enum):
    ACTIVE = "active"
    PAUSED = "paused"
    CANCELLED = "cancelled"


def _enum(cls, name):
    return Enum(cls, name=name, native_enum=False, length=20,
                values_callable=lambda e: [m.value for m in e])


_NO_DATES: frozenset[date] = frozenset()


@lru_cache(maxsize=256)
def _weekday_set(weekdays: str | None) -> frozenset[int]:
    """The ISO weekdays of a stored "1,2,3,4,5". Memoised: the trips of the matching index
    share a few sets instead of holding one each."""
    if not weekdays:
        return frozenset()
    return frozenset(int(x) for x in weekdays.split(","))


class Offer(PlaceMixin, db.Model):
    """A driver's trip ("trajet proposé"): one-off (date + time) or regular.

    One-off departures are stored as a UTC instant. A regular trip keeps its wall-clock
    time in Europe/Paris plus weekdays and a date range: 07:45 stays 07:45 local whatever
    the daylight-saving offset of each occurrence.
    """

    __tablename__ = "offers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    driver_id: Mapped[int] = mapped_column(ForeignKey("drivers.id"), index=True)
    kind: Mapped[OfferKind] = mapped_column(_enum(OfferKind, "offer_kind"))
    status: Mapped[OfferStatus] = mapped_column(
        _enum(OfferStatus, "offer_status"), default=OfferStatus.ACTIVE, index=True
    )
    departure_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    local_time: Mapped[time | None] = mapped_column(Time, nullable=True)
    weekdays: Mapped[str | None] = mapped_column(String(13), nullable=True)  # "1,2,3,4,5" ISO
    first_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    last_date: Mapped[date | None] = mapped_column(Date, nullable=True)

    origin_insee: Mapped[str] = mapped_column(ForeignKey("communes.insee"))
    origin_place: Mapped[str | None] = mapped_column(String(200), nullable=True)
    origin_lat: Mapped[float | None] = mapped_column(Float, nullable=True)
    origin_lon: Mapped[float | None] = mapped_column(Float, nullable=True)
    origin_geom: Mapped[object] = mapped_column(POINT)
    destination_insee: Mapped[str] = mapped_column(ForeignKey("communes.insee"))
    destination_place: Mapped[str | None] = mapped_column(String(200), nullable=True)
    destination_lat: Mapped[float | None] = mapped_column(Float, nullable=True)
    destination_lon: Mapped[float | None] = mapped_column(Float, nullable=True)
    destination_geom: Mapped[object] = mapped_column(POINT)

    seats: Mapped[int] = mapped_column(Integer)
    max_detour_min: Mapped[int] = mapped_column(Integer)
    remark: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    driver: Mapped["Driver"] = relationship(back_populates="offers")  # noqa: F821
    origin: Mapped["Commune"] = relationship(foreign_keys=[origin_insee])  # noqa: F821
    destination: Mapped["Commune"] = relationship(foreign_keys=[destination_insee])  # noqa: F821
    # the dates of a regular trip the driver does not drive (selectin: the matching index
    # loads every trip's skips in one query)
    skips: Mapped[list["OfferSkip"]] = relationship(
        back_populates="offer", lazy="selectin", cascade="all, delete-orphan", order_by="OfferSkip.day")

    __table_args__ = (
        CheckConstraint("seats BETWEEN 1 AND 8", name="seats_range"),
        CheckConstraint("max_detour_min BETWEEN 0 AND 60", name="detour_range"),
        CheckConstraint("origin_insee <> destination_insee OR origin_lat IS NOT NULL",
                        name="distinct_ends"),
        Index("ix_offers_origin_geom", "origin_geom", postgresql_using="gist"),
        Index("ix_offers_destination_geom", "destination_geom", postgresql_using="gist"),
    )

    @property
    def weekday_set(self) -> frozenset[int]:
        return _weekday_set(self.weekdays)

    @property
    def is_regular(self) -> bool:
        return self.kind == OfferKind.REGULAR

    @property
    def skip_dates(self) -> frozenset[date]:
        return frozenset(s.day for s in self.skips) if self.skips else _NO_DATES


class OfferSkip(db.Model):
    """One date of a regular trip the driver cancelled ("annulé ce jour-là"): the run is not
    proposed that day; restoring the date deletes the row."""

    __tablename__ = "offer_skips"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    offer_id: Mapped[int] = mapped_column(ForeignKey("offers.id", ondelete="CASCADE"), index=True)
    day: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    offer: Mapped[Offer] = relationship(back_populates="skips")

    __table_args__ = (UniqueConstraint("offer_id", "day", name="uq_offer_skips_offer_day"),)


class OfferChange(db.Model):
    """The change log of trips: one row per bump of the `offers` change counter, written in
    the same transaction as the change. A process whose matching index is k changes behind
    re-reads those k trips instead of rebuilding its index (a missing row = a gap: rebuild)."""

    __tablename__ = "offer_changes"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    offer_id: Mapped[int] = mapped_column(Integer)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
