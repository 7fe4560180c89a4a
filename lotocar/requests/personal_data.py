"""Passengers' trip requests (RGPD hook, see `lotocar.core.personal_data`): the rows stay
for the statistics (communes, dates, statuses); notes, free-text places and precise points
go. Runs after the bookings hook, which cancelled the live bookings."""
from __future__ import annotations

from typing import Any

from lotocar.core import personal_data as pd
from lotocar.extensions import db
from lotocar.requests import status as request_status
from lotocar.requests.models import RequestStatus, TripRequest

FIELDS = ["id", "origin_insee", "origin_place", "origin_lat", "origin_lon", "destination_insee",
          "destination_place", "destination_lat", "destination_lon", "mode", "target_at",
          "flexibility_min", "reason", "status", "unmet_reason", "notes", "created_at"]


def for_passenger(passenger_id: int) -> list[TripRequest]:
    return list(db.session.scalars(db.select(TripRequest).where(TripRequest.passenger_id == passenger_id)
                                   .order_by(TripRequest.created_at, TripRequest.id)))


def export(subject: pd.Subject) -> dict[str, Any]:
    if subject.kind != "passenger":
        return {}
    return {"requests": [pd.row(r, FIELDS) for r in for_passenger(subject.person_id)]}


def erase(subject: pd.Subject) -> None:
    if subject.kind != "passenger":
        return
    for request in for_passenger(subject.person_id):
        if request.status in (RequestStatus.OPEN, RequestStatus.UNMET) and request_status.can(request, "cancelled"):
            request_status.move(request, "cancelled")  # lotocar.requests.status owns the status
        request.notes = None
        request.origin_place = request.destination_place = None
        request.origin_lat = request.origin_lon = None
        request.destination_lat = request.destination_lon = None
        request.set_place("origin", request.origin)
        request.set_place("destination", request.destination)


pd.register("requests", 30, export, erase)
