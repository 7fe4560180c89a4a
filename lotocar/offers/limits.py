"""How many trips one driver may have at once, so that one account cannot flood the
matching (one self-registered driver once created 300 daily year-long trips in 10 s).

A real volunteer has a few trips: home → work, the market day, a weekly appointment. The
cap (OFFER_MAX_ACTIVE_PER_DRIVER, 20 by default) counts the trips still to come, active or
paused; cancelled and finished trips do not count. Creation from the drivers' pages is also
rate-limited per account (OFFER_CREATE_LIMIT, see `lotocar.offers.views`).
"""
from __future__ import annotations

from flask import current_app

from lotocar.core import clock
from lotocar.drivers.models import Driver
from lotocar.extensions import db
from lotocar.offers.models import Offer, OfferStatus


def live_count(driver_id: int) -> int:
    today = clock.today_local()
    return db.session.scalar(
        db.select(db.func.count(Offer.id)).where(
            Offer.driver_id == driver_id, Offer.status.in_([OfferStatus.ACTIVE, OfferStatus.PAUSED]),
            (Offer.last_date.is_(None)) | (Offer.last_date >= today))
    ) or 0


def cap_errors(driver: Driver) -> dict[str, str]:
    """{} when the driver may add a trip, else the French message (on the `kind` field)."""
    cap = int(current_app.config.get("OFFER_MAX_ACTIVE_PER_DRIVER", 20))
    if live_count(driver.id) < cap:
        return {}
    return {"kind": f"Vous avez déjà {cap} trajets à venir : c'est le maximum. Annulez ceux que "
                    "vous ne faites plus, ou appelez l'équipe."}
