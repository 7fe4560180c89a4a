from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Enum, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lotocar.core.places import PlaceMixin
from lotocar.core.timeutil import utcnow
from lotocar.core.types import POINT, UTCDateTime
from lotocar.extensions import db


class RequestMode(str, enum.Enum):
    ARRIVE_BY = "arrive_by"
    LEAVE_AFTER = "leave_after"


class RequestStatus(str, enum.Enum):
    OPEN = "open"
    BOOKED = "booked"
    UNMET = "unmet"
    DONE = "done"
    CANCELLED = "cancelled"


class RequestReason(str, enum.Enum):
    MEDICAL = "medical"
    JOB = "job"
    TRAINING = "training"
    SHOPPING = "shopping"
    ADMINISTRATION = "administration"
    OTHER = "other"


def _enum(cls, name):
    return Enum(cls, name=name, native_enum=False, length=20,
                values_callable=lambda e: [m.value for m in e])


class TripRequest(PlaceMixin, db.Model):
    """A passenger's need ("demande de trajet")."""

    __tablename__ = "trip_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    passenger_id: Mapped[int] = mapped_column(ForeignKey("passengers.id"), index=True)
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

    mode: Mapped[RequestMode] = mapped_column(_enum(RequestMode, "request_mode"))
    target_at: Mapped[datetime] = mapped_column(UTCDateTime)  # the "arrive by"/"leave after" instant
    flexibility_min: Mapped[int] = mapped_column(Integer, default=30)
    seats: Mapped[int] = mapped_column(Integer, default=1)
    reason: Mapped[RequestReason] = mapped_column(_enum(RequestReason, "request_reason"))
    status: Mapped[RequestStatus] = mapped_column(
        _enum(RequestStatus, "request_status"), default=RequestStatus.OPEN, index=True
    )
    unmet_reason: Mapped[str | None] = mapped_column(String(200), nullable=True)
    # why the request needs the operator's eye again (see bookings.operations.FLAGS)
    flag: Mapped[str | None] = mapped_column(String(30), nullable=True, index=True)
    flag_detail: Mapped[str | None] = mapped_column(String(300), nullable=True)
    flagged_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    handled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    return_of_id: Mapped[int | None] = mapped_column(ForeignKey("trip_requests.id"), nullable=True)
    notes: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)

    passenger: Mapped["Passenger"] = relationship()  # noqa: F821
    origin: Mapped["Commune"] = relationship(foreign_keys=[origin_insee])  # noqa: F821
    destination: Mapped["Commune"] = relationship(foreign_keys=[destination_insee])  # noqa: F821

    __table_args__ = (
        Index("ix_trip_requests_origin_geom", "origin_geom", postgresql_using="gist"),
        Index("ix_trip_requests_destination_geom", "destination_geom", postgresql_using="gist"),
    )
