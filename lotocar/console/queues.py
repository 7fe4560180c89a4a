"""The operator's queues: plain queries returning what the console lists."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, time, timedelta

from sqlalchemy import and_, or_
from sqlalchemy.orm import aliased, joinedload

from lotocar.core import clock
from lotocar.bookings.models import Booking, BookingStatus
from lotocar.bookings.operations import CALL_LIST_FLAGS
from lotocar.communes.models import Commune
from lotocar.core.timeutil import local_to_utc
from lotocar.extensions import db
from lotocar.requests.models import RequestStatus, TripRequest

QUEUES = {
    "a-traiter": "À traiter",
    "a-appeler": "À appeler",
    "attente-conducteur": "En attente du conducteur",
    "confirmees": "Confirmées à venir",
    "effectuees": "Effectuées",
    "annulees": "Annulées",
    "sans-solution": "Sans solution",
}


@dataclass(frozen=True)
class QueueFilter:
    start: date | None = None
    end: date | None = None
    epci: str | None = None


def _base(f: QueueFilter):
    origin = aliased(Commune)
    query = (db.select(TripRequest).join(origin, origin.insee == TripRequest.origin_insee)
             .options(joinedload(TripRequest.passenger), joinedload(TripRequest.origin),
                      joinedload(TripRequest.destination)))
    if f.start:
        query = query.where(TripRequest.target_at >= local_to_utc(f.start, time(0, 0)))
    if f.end:
        query = query.where(TripRequest.target_at < local_to_utc(f.end + timedelta(days=1), time(0, 0)))
    if f.epci:
        query = query.where(origin.epci_siren == f.epci)
    return query


_PROPOSED = db.select(Booking.request_id).where(
    Booking.status.in_((BookingStatus.PROPOSED, BookingStatus.ACCEPTED_BY_DRIVER)))


def _where(queue: str):
    now = clock.now_local()
    if queue == "a-traiter":
        return and_(TripRequest.status == RequestStatus.OPEN, TripRequest.id.not_in(_PROPOSED))
    if queue == "a-appeler":  # only what automation could not do (issue #17)
        return TripRequest.flag.in_(CALL_LIST_FLAGS)
    if queue == "attente-conducteur":
        return and_(TripRequest.status == RequestStatus.OPEN, TripRequest.id.in_(_PROPOSED))
    if queue == "confirmees":
        return and_(TripRequest.status == RequestStatus.BOOKED, TripRequest.target_at >= now - timedelta(hours=6))
    if queue == "effectuees":
        return or_(TripRequest.status == RequestStatus.DONE,
                   and_(TripRequest.status == RequestStatus.BOOKED, TripRequest.target_at < now - timedelta(hours=6)))
    if queue == "annulees":
        return TripRequest.status == RequestStatus.CANCELLED
    if queue == "sans-solution":
        return TripRequest.status == RequestStatus.UNMET
    raise KeyError(queue)


def counts(f: QueueFilter) -> dict[str, int]:
    result = {}
    for key in QUEUES:
        sub = _base(f).where(_where(key)).subquery()
        result[key] = db.session.scalar(db.select(db.func.count()).select_from(sub)) or 0
    return result


def listing(queue: str, f: QueueFilter, limit: int = 200) -> list[TripRequest]:
    """Oldest first; in "à traiter", flagged requests come first, then by appointment time."""
    query = _base(f).where(_where(queue))
    if queue == "a-traiter":
        query = query.order_by(TripRequest.flag.is_(None), TripRequest.created_at, TripRequest.id)
    elif queue == "a-appeler":
        query = query.order_by(TripRequest.flagged_at, TripRequest.id)
    elif queue in ("effectuees", "annulees"):
        query = query.order_by(TripRequest.target_at.desc(), TripRequest.id.desc())
    else:
        query = query.order_by(TripRequest.target_at, TripRequest.id)
    return list(db.session.scalars(query.limit(limit)).unique())


def epcis() -> list[tuple[str, str]]:
    return list(db.session.execute(
        db.select(Commune.epci_siren, Commune.epci_name).distinct().order_by(Commune.epci_name)).all())
