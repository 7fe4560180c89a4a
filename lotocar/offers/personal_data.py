"""Drivers' trips (RGPD hook, see `lotocar.core.personal_data`): trips are cancelled (their
bookings go back to the operator and passengers are told, through the usual reactions) and
kept for the statistics without remark, free-text places or precise points."""
from __future__ import annotations

from typing import Any

from lotocar.core import personal_data as pd
from lotocar.extensions import db
from lotocar.offers import operations as offer_ops
from lotocar.offers.models import Offer, OfferStatus

FIELDS = ["id", "kind", "status", "departure_at", "local_time", "weekdays", "first_date", "last_date",
          "origin_insee", "origin_place", "destination_insee", "destination_place", "seats",
          "max_detour_min", "remark", "created_at"]


def for_driver(driver_id: int) -> list[Offer]:
    return list(db.session.scalars(db.select(Offer).where(Offer.driver_id == driver_id)
                                   .order_by(Offer.created_at, Offer.id)))


def export(subject: pd.Subject) -> dict[str, Any]:
    if subject.kind != "driver":
        return {}
    return {"offers": [pd.row(o, FIELDS) for o in for_driver(subject.person_id)]}


def erase(subject: pd.Subject) -> None:
    if subject.kind != "driver":
        return
    for offer in for_driver(subject.person_id):
        if offer.status != OfferStatus.CANCELLED:
            offer_ops.change_status(offer, "cancel", subject.actor_id, "Données effacées (RGPD)")
        offer.remark = None
        offer.origin_place = offer.destination_place = None
        offer.origin_lat = offer.origin_lon = offer.destination_lat = offer.destination_lon = None
        offer.set_place("origin", offer.origin)
        offer.set_place("destination", offer.destination)


pd.register("offers", 20, export, erase)
