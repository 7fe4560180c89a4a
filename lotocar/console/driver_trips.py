"""A driver phones in: the operator posts, edits, pauses, resumes or cancels his trip, or
cancels / restores one date of it, from `/console/conducteurs/<id>` (issue #14).

The same forms, operations and confirmation step as the driver's own pages
(`offers.views`, `offers.trip_views`): booked passengers are listed before anything is
dropped, and told through the usual reactions. Every change is audited with the operator as
its actor, and the driver gets an SMS saying what the team changed on his behalf (in the
same transaction as the change, through the outbox).
"""
from __future__ import annotations

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user

from lotocar.auth.decorators import roles_required
from lotocar.bookings import operations as bookings
from lotocar.console.views import STAFF, bp
from lotocar.core import tx
from lotocar.drivers.models import Driver
from lotocar.extensions import db
from lotocar.notifications.outbox import Draft, enqueue
from lotocar.offers import operations as ops
from lotocar.offers import trip_views as trips
from lotocar.offers.forms import OfferForm
from lotocar.offers.models import Offer, OfferChange
from lotocar.offers.views import trip_action_page

REASON = "Fait par l'équipe à la demande du conducteur (téléphone)"
NOTICE_KIND = "trip_by_team"
WHAT = {
    "created": "enregistré votre trajet",
    "updated": "modifié votre trajet",
    "pause": "mis en pause votre trajet",
    "resume": "repris votre trajet",
    "cancel": "annulé votre trajet",
    "skip": "annulé le {day} de votre trajet",
    "restore": "rétabli le {day} de votre trajet",
}


def _driver(driver_id: int) -> Driver:
    item = db.session.get(Driver, driver_id)
    if item is None or item.user.anonymised_at is not None:
        abort(404)
    return item


def _offer(driver: Driver, offer_id: int) -> Offer:
    offer = ops.get_for_driver(driver, offer_id)
    if offer is None:
        abort(404)
    return offer


def notice_text(offer: Offer, action: str, day=None) -> str:
    what = WHAT[action].format(day=trips.day_words(day) if day else "")
    return (f"Lot'ôcar : à votre demande, l'équipe a {what} de {offer.origin.name} à {offer.destination.name}. "
            f"Une erreur ? Appelez le {current_app.config['OPERATOR_PHONE']}")


def notify_driver(offer: Offer, action: str, day=None) -> int | None:
    """The SMS telling the driver what the team changed on his trip (in the action's
    transaction; keyed on the trip's change-log entry, so it is queued once)."""
    user = offer.driver.user
    if not user.phone or not offer.driver.consent_contact or user.anonymised_at is not None:
        return None
    seq = db.session.scalar(db.select(db.func.max(OfferChange.seq)).where(OfferChange.offer_id == offer.id))
    return enqueue(Draft(kind=NOTICE_KIND, to_phone=user.phone, body=notice_text(offer, action, day),
                         key=f"o{offer.id}:team:{seq}", recipient="driver", recipient_name=user.first_name))


def _told(driver: Driver) -> str:
    return (f" {driver.user.first_name} est prévenu par SMS." if driver.user.phone and driver.consent_contact
            else f" {driver.user.first_name} n'a pas de SMS : dites-le-lui au téléphone.")


@bp.app_template_global("console_driver_trips")
def driver_trip_rows(driver: Driver) -> list[ops.UpcomingTrip]:
    """The driver's trips still to come, with their next runs and cancelled dates (for
    `console/driver.html`)."""
    return ops.upcoming_for_driver(driver, shown=5)


def _back(driver: Driver) -> str:
    return url_for("console.driver", driver_id=driver.id)


def _save(form: OfferForm, driver: Driver, offer: Offer | None):
    if not form.validate_on_submit():
        return None
    data = form.to_input()

    def action():
        if offer is None:
            saved = ops.create_offer(driver, data, current_user.id)
            notify_driver(saved, "created")
        else:
            saved = ops.update_offer(offer, data, current_user.id)
            notify_driver(saved, "updated")
        return saved

    try:
        return tx.atomic(action)
    except ops.OfferValidationError as exc:
        form.add_errors(exc.errors)
    except (ops.OfferStateError, bookings.BookingError) as exc:
        flash(str(exc), "error")
    return None


def _form_page(form: OfferForm, driver: Driver, offer: Offer | None):
    return render_template("offers/form.html", form=form, offer=offer, by_operator=True, driver=driver,
                           back_url=_back(driver)), (400 if form.errors else 200)


@bp.route("/conducteurs/<int:driver_id>/trajets/nouveau", methods=["GET", "POST"])
@roles_required(*STAFF)
def driver_trip_new(driver_id: int):
    driver = _driver(driver_id)
    form = OfferForm()
    if not form.is_submitted():
        form.origin.set_commune(driver.home)
        form.first_date.data = ops.default_first_date()
    if _save(form, driver, None) is not None:
        flash(f"Trajet enregistré pour {driver.user.first_name}.{_told(driver)}", "success")
        return redirect(_back(driver))
    return _form_page(form, driver, None)


@bp.route("/conducteurs/<int:driver_id>/trajets/<int:offer_id>/modifier", methods=["GET", "POST"])
@roles_required(*STAFF)
def driver_trip_edit(driver_id: int, offer_id: int):
    driver = _driver(driver_id)
    offer = _offer(driver, offer_id)
    form = OfferForm()
    if not form.is_submitted():
        form.fill_from(offer)
    if _save(form, driver, offer) is not None:
        flash(f"Trajet de {driver.user.first_name} modifié.{_told(driver)}", "success")
        return redirect(_back(driver))
    return _form_page(form, driver, offer)


@bp.route("/conducteurs/<int:driver_id>/trajets/<int:offer_id>/<any(pause, resume, cancel):action>",
          methods=["GET", "POST"])
@roles_required(*STAFF)
def driver_trip_status(driver_id: int, offer_id: int, action: str):
    driver = _driver(driver_id)
    return _trip_action(driver, _offer(driver, offer_id), action, None)


@bp.route("/conducteurs/<int:driver_id>/trajets/<int:offer_id>/annuler-une-date", methods=["GET", "POST"])
@roles_required(*STAFF)
def driver_trip_skip(driver_id: int, offer_id: int):
    driver = _driver(driver_id)
    return _trip_action(driver, _offer(driver, offer_id), "skip", trips.parse_day(request.values.get("jour")))


@bp.post("/conducteurs/<int:driver_id>/trajets/<int:offer_id>/retablir-une-date")
@roles_required(*STAFF)
def driver_trip_restore(driver_id: int, offer_id: int):
    driver = _driver(driver_id)
    return _trip_action(driver, _offer(driver, offer_id), "restore", trips.parse_day(request.values.get("jour")))


def _trip_action(driver: Driver, offer: Offer, action: str, day):
    def change():
        saved = trips.act(offer, action, day, current_user.id, REASON)
        notify_driver(saved, action, day)

    return trip_action_page(offer, action, day, _back(driver), change, by_operator=True,
                            done_suffix=_told(driver))