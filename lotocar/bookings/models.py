from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, Enum, Float, ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lotocar.core.timeutil import utcnow
from lotocar.core.types import UTCDateTime
from lotocar.extensions import db


class BookingStatus(str, enum.Enum):
    PROPOSED = "proposed"
    ACCEPTED_BY_DRIVER = "accepted_by_driver"
    CONFIRMED = "confirmed"
    DONE = "done"
    DECLINED = "declined"
    CANCELLED_BY_PASSENGER = "cancelled_by_passenger"
    CANCELLED_BY_DRIVER = "cancelled_by_driver"
    CANCELLED_BY_OPERATOR = "cancelled_by_operator"
    NO_SHOW = "no_show"


# Statuses that hold a seat in the driver's car for that day.
SEAT_HOLDING = frozenset(
    {BookingStatus.PROPOSED, BookingStatus.ACCEPTED_BY_DRIVER, BookingStatus.CONFIRMED,
     BookingStatus.DONE}
)
# A request has at most one booking in these statuses at a time (partial unique index).
LIVE = frozenset({BookingStatus.PROPOSED, BookingStatus.ACCEPTED_BY_DRIVER, BookingStatus.CONFIRMED})
_LIVE_SQL = "status IN ('proposed', 'accepted_by_driver', 'confirmed')"


class Booking(db.Model):
    """A request assigned to one occurrence (local date) of an offer."""

    __tablename__ = "bookings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("trip_requests.id"), index=True)
    offer_id: Mapped[int] = mapped_column(ForeignKey("offers.id"))
    occurrence_date: Mapped[date] = mapped_column(Date)
    seats: Mapped[int] = mapped_column(Integer, default=1)
    status: Mapped[BookingStatus] = mapped_column(
        Enum(BookingStatus, name="booking_status", native_enum=False, length=30,
             values_callable=lambda e: [m.value for m in e]),
        default=BookingStatus.PROPOSED,
    )
    pickup_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    dropoff_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    detour_min: Mapped[float | None] = mapped_column(Float, nullable=True)
    # a near miss proposed beyond the driver's usual detour (the operator asks him): the total
    # detour of this run he is asked to accept; while the booking lives it is the run's budget
    detour_allowance_min: Mapped[float | None] = mapped_column(Float, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    status_reason: Mapped[str | None] = mapped_column(String(300), nullable=True)
    # bumped at every change of the promise (pickup / drop-off place or time): it versions the
    # outbox key of the "changed" SMS, so even a change back to an earlier time is announced
    promise_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0", nullable=False)

    request: Mapped["TripRequest"] = relationship()  # noqa: F821
    offer: Mapped["Offer"] = relationship()  # noqa: F821

    __table_args__ = (
        Index("ix_bookings_offer_day", "offer_id", "occurrence_date"),
        Index("uq_bookings_live_request", "request_id", unique=True,
              sqlite_where=text(_LIVE_SQL), postgresql_where=text(_LIVE_SQL)),
    )


class OfferDay(db.Model):
    """Seats of one run (local date) of a trip: the database refuses to overbook it.

    Every seat hold is `UPDATE … SET held = held + n WHERE held + n <= capacity`, and a CHECK
    constraint backs it: two operators (or an operator and a driver's link) taking the last
    seat at once cannot both succeed, on PostgreSQL as on SQLite.
    """

    __tablename__ = "offer_days"

    offer_id: Mapped[int] = mapped_column(ForeignKey("offers.id"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    capacity: Mapped[int] = mapped_column(Integer)
    held: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (
        CheckConstraint("held >= 0 AND held <= capacity", name="seats_within_capacity"),
        # the matcher reads the held seats of a few dates (a request's date ± 1) for all trips:
        # the primary key starts with the trip, so without this it reads every held run
        Index("ix_offer_days_day_held", "day", postgresql_where=text("held > 0"),
              sqlite_where=text("held > 0")),
    )
