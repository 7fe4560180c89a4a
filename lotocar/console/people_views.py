"""Operators correct people's records (issue #14): a passenger's identity, phone, home,
consents, accessibility needs and pickup place; a driver's identity, phone, home and what he
and his car accept. Views parse, call the operations, commit once (`tx.atomic`)."""
from __future__ import annotations

from flask import abort, flash, redirect, render_template, url_for
from flask_login import current_user

from lotocar.auth.decorators import roles_required
from lotocar.bookings.models import LIVE, Booking
from lotocar.console.forms import DriverRecordForm, PassengerEditForm
from lotocar.console.views import STAFF, bp
from lotocar.core import clock, tx
from lotocar.core import needs as need_codes
from lotocar.core.phones import format_phone
from lotocar.core.timeutil import format_date_fr
from lotocar.drivers import operations as drivers
from lotocar.drivers.models import Driver
from lotocar.extensions import db
from lotocar.notifications import operations as notices
from lotocar.offers import operations as offers
from lotocar.passengers import operations as passengers
from lotocar.passengers.models import Passenger
from lotocar.requests.models import TripRequest

# error keys of the operations -> the form field they belong to
_PASSENGER_FIELDS = {"home": "home", "needs_flags": "need_wheelchair"}
_DRIVER_FIELDS = {"home": "home", "home_insee": "home", "accepts": "accept_wheelchair"}


def _coordinate(value: float | None) -> str:
    return "" if value is None else f"{value:.6f}".rstrip("0").rstrip(".").replace(".", ",")


@bp.app_template_filter("coord_fr")
def coord_fr(value: float | None) -> str:
    """A latitude / longitude in French decimals: 44,4475."""
    return _coordinate(value)


@bp.app_template_filter("need_labels")
def need_labels(codes) -> list[str]:
    return need_codes.labels(codes)


@bp.app_template_filter("accept_labels")
def accept_labels(codes) -> list[str]:
    return [label for code, label in need_codes.ACCEPTS_FR.items() if code in set(codes)]


def _attach(form, errors: dict[str, str], names: dict[str, str]) -> None:
    for key, message in errors.items():
        field = getattr(form, names.get(key, key), None)
        if field is not None and message not in field.errors:
            field.errors = list(field.errors) + [message]


def _phone_moved(old: str | None, new: str, recipient: str, sms_ok: bool, calls_ok: bool) -> dict | None:
    """A corrected number: the opt-out and the pending messages follow (notifications)."""
    if old is None:
        return None
    return notices.phone_changed(old, new, recipient, sms_ok, calls_ok)


def _bookings_needing_review(person: Passenger) -> list[str]:
    """Her rides still to come whose driver does not accept all her needs (after a change of
    needs): said to the operator, who calls them — nothing is cancelled behind her back."""
    wanted = person.need_codes
    if not wanted:
        return []
    rows = db.session.scalars(
        db.select(Booking).join(TripRequest, TripRequest.id == Booking.request_id)
        .where(TripRequest.passenger_id == person.id, Booking.status.in_(LIVE),
               Booking.occurrence_date >= clock.now_local().date())
        .order_by(Booking.occurrence_date))
    out = []
    for booking in rows:
        missing = wanted - booking.offer.driver.accept_codes
        if missing:
            out.append(f"{booking.offer.driver.user.first_name} le {format_date_fr(booking.occurrence_date)} "
                       f"({need_codes.refusal(missing)})")
    return out


@bp.route("/passagers/<int:passenger_id>/modifier", methods=["GET", "POST"])
@roles_required(*STAFF)
def edit_passenger(passenger_id: int):
    person = db.session.get(Passenger, passenger_id)
    if person is None or person.anonymised_at is not None:
        abort(404)
    form = PassengerEditForm()
    if not form.is_submitted():
        form.first_name.data, form.last_name.data = person.first_name, person.last_name
        form.phone.data = format_phone(person.phone)
        form.home.set_commune(person.home)
        form.has_no_car.data = person.has_no_car
        form.sms_consent.data = person.sms_consent_at is not None
        form.call_consent.data = person.call_consent_at is not None
        form.prefers_calls.data = person.prefers_calls
        form.needs.data, form.notes.data = person.needs, person.notes
        form.set_needs(person.need_codes)
        form.pickup_place.data = person.pickup_place
        form.pickup_lat.data, form.pickup_lon.data = _coordinate(person.pickup_lat), _coordinate(person.pickup_lon)
        return render_template("console/passenger_edit.html", form=form, person=person)
    form_ok = form.validate_on_submit()
    errors: dict[str, str] = {}
    lat, lon = form.pickup_point(errors)
    data = passengers.PassengerInput(
        first_name=form.first_name.data or "", last_name=form.last_name.data or "",
        phone=form.phone.data or "", home_insee=form.home.commune.insee if form.home.commune else None,
        has_no_car=bool(form.has_no_car.data), sms_consent=bool(form.sms_consent.data),
        needs=form.needs.data, notes=form.notes.data, call_consent=bool(form.call_consent.data),
        prefers_calls=bool(form.prefers_calls.data), needs_flags=form.needs_flags(),
        pickup_place=form.pickup_place.data, pickup_lat=lat, pickup_lon=lon)
    if form_ok and not errors:
        def save():
            change = passengers.update(person, data, current_user.id)
            moved = _phone_moved(change.old_phone, person.phone, "passenger",
                                 sms_ok=person.phone_is_mobile and person.sms_consent_at is not None,
                                 calls_ok=person.call_consent_at is not None)
            return change, moved
        try:
            change, moved = tx.atomic(save)
        except passengers.PassengerError as exc:
            errors.update(exc.errors)
        else:
            if not change.changed:
                flash("Aucune modification.", "info")
            else:
                message = "Fiche mise à jour."
                if moved and (moved["moved"] or moved["withdrawn"]):
                    message += (f" Messages en attente : {moved['moved']} vers le nouveau numéro, "
                                f"{moved['withdrawn']} retiré{'s' if moved['withdrawn'] > 1 else ''}.")
                flash(message, "success")
                review = _bookings_needing_review(person) if "needs_flags" in change.changed else []
                if review:
                    flash("Réservations à revoir avec le conducteur : " + " ; ".join(review) + ".", "warning")
            return redirect(url_for("console.passenger", passenger_id=person.id))
    if not form_ok:  # the business-rule errors too, all at once
        errors = {**passengers.validate(data)[0], **errors}
    _attach(form, errors, _PASSENGER_FIELDS)
    return render_template("console/passenger_edit.html", form=form, person=person), 400


@bp.route("/conducteurs/<int:driver_id>/modifier", methods=["GET", "POST"])
@roles_required(*STAFF)
def edit_driver(driver_id: int):
    driver = db.session.get(Driver, driver_id)
    if driver is None or driver.user.anonymised_at is not None:
        abort(404)
    form = DriverRecordForm()
    if not form.is_submitted():
        form.first_name.data, form.last_name.data = driver.user.first_name, driver.user.last_name
        form.phone.data = format_phone(driver.user.phone) if driver.user.phone else ""
        form.home.set_commune(driver.home)
        form.set_accepts(driver.accept_codes)
        return render_template("console/driver_edit.html", form=form, driver=driver)
    form_ok = form.validate_on_submit()
    data = drivers.DriverRecordInput(
        first_name=form.first_name.data or "", last_name=form.last_name.data or "",
        phone=form.phone.data or "", home_insee=form.home.commune.insee if form.home.commune else None,
        accepts=form.accepts())
    errors: dict[str, str] = {}
    if form_ok:
        def save():
            change = drivers.update_record(driver, data, current_user.id)
            if change.accepts_changed:
                offers.driver_accepts_changed(driver)  # indexes follow, his passengers reconciled
            _phone_moved(change.old_phone, driver.user.phone, "driver", sms_ok=True, calls_ok=True)
            return change
        try:
            change = tx.atomic(save)
        except drivers.DriverInputError as exc:
            errors.update(exc.errors)
        else:
            flash("Fiche du conducteur mise à jour." if change.changed else "Aucune modification.",
                  "success" if change.changed else "info")
            return redirect(url_for("console.driver", driver_id=driver.id))
    else:  # the business-rule errors too, all at once
        errors = drivers.validate_record(driver, data)[0]
    _attach(form, errors, _DRIVER_FIELDS)
    return render_template("console/driver_edit.html", form=form, driver=driver), 400
