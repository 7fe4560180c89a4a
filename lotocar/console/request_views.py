"""Console views for editing a request and widening it to a near miss (issue #14), on the
console blueprint (imported at the end of `lotocar.console.views`)."""
from __future__ import annotations

from datetime import date

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from lotocar.auth.decorators import roles_required
from lotocar.bookings import operations as bookings
from lotocar.candidates import operations as candidates
from lotocar.console.forms import ActionForm, RequestEditForm
from lotocar.console.views import STAFF, _request_or_404, bp
from lotocar.core import tx
from lotocar.core.guards import MAX_ROW_ID
from lotocar.core.timeutil import utcnow
from lotocar.offers.operations import place_input
from lotocar.requests import operations as requests_ops
from lotocar.requests.models import TripRequest


def _prefill(form: RequestEditForm, trip: TripRequest) -> None:
    data = requests_ops.input_of(trip)
    form.origin.set_commune(trip.origin)
    form.destination.set_commune(trip.destination)
    form.origin_place.data, form.destination_place.data = trip.origin_place, trip.destination_place
    form.mode.data, form.day.data, form.at.data = data.mode, data.day, data.at
    form.flexibility_min.data, form.seats.data = data.flexibility_min, data.seats
    form.reason.data, form.notes.data = data.reason, data.notes


def _edited_place(form: RequestEditForm, trip: TripRequest, prefix: str):
    """The place typed; a precise point the request had (API, map) stays while the commune
    and the place text are unchanged."""
    field = getattr(form, prefix)
    text = getattr(form, f"{prefix}_place").data
    place, lat, lon = field.meeting_point(text)
    commune = field.commune
    if commune is not None and commune.insee == getattr(trip, f"{prefix}_insee") \
            and (text or None) == getattr(trip, f"{prefix}_place") and lat is None:
        lat, lon = getattr(trip, f"{prefix}_lat"), getattr(trip, f"{prefix}_lon")
    return place_input(commune, place, lat, lon)


def _edit_input(form: RequestEditForm, trip: TripRequest) -> requests_ops.RequestInput:
    return requests_ops.RequestInput(
        passenger_id=trip.passenger_id, origin=_edited_place(form, trip, "origin"),
        destination=_edited_place(form, trip, "destination"), mode=form.mode.data, day=form.day.data,
        at=form.at.data, flexibility_min=form.flexibility_min.data, reason=form.reason.data,
        notes=form.notes.data, seats=form.seats.data)


def _outcome_message(outcome: candidates.EditOutcome, trip: TripRequest) -> tuple[str, str]:
    if not outcome.changes:
        return "Rien n'a changé.", "info"
    if outcome.cancelled:
        return (("Demande modifiée. Le trajet réservé ne convient plus : la réservation est annulée, "
                 "le conducteur et le passager sont prévenus. Choisissez un autre conducteur."), "warning")
    if outcome.promise_changed:
        return (("Demande modifiée. La réservation tient, avec un nouvel horaire : "
                 "le conducteur et le passager sont prévenus."), "success")
    if outcome.kept:
        return "Demande modifiée. La réservation tient, sans changement d'horaire.", "success"
    return "Demande modifiée : voici les conducteurs possibles.", "success"


@bp.route("/demandes/<int:request_id>/modifier", methods=["GET", "POST"])
@roles_required(*STAFF)
def edit_request(request_id: int):
    trip = _request_or_404(request_id)
    if trip.status not in requests_ops.EDITABLE:
        flash("Cette demande est close : elle ne peut plus être modifiée.", "error")
        return redirect(url_for("console.trip_request", request_id=trip.id))
    form = RequestEditForm()
    live = bookings.live_booking(trip.id)
    if not form.is_submitted():
        _prefill(form, trip)
    else:
        form_ok = form.validate_on_submit()
        data = _edit_input(form, trip)
        try:
            if not form_ok:
                raise requests_ops.RequestInputError(requests_ops.validate(data, utcnow(),
                                                                           check_passenger=False))
            outcome = tx.atomic(lambda: candidates.edit_request(trip, data, current_user.id))
        except requests_ops.RequestInputError as exc:
            form.add_errors({k: v for k, v in exc.errors.items()
                             if not getattr(form, k, None) or not getattr(form, k).errors})
            if "status" in exc.errors:
                flash(exc.errors["status"], "error")
        except bookings.BookingError as exc:
            flash(str(exc), "error")
        else:
            message, category = _outcome_message(outcome, trip)
            flash(message, category)
            return redirect(url_for("console.trip_request", request_id=trip.id))
    return render_template("console/request_edit.html", form=form, trip=trip, live=live,
                           labels=bookings.STATUS_LABELS_FR), (400 if form.errors else 200)


@bp.post("/demandes/<int:request_id>/elargir")
@roles_required(*STAFF)
def widen_request(request_id: int):
    """One click on a window miss: the request's time or flexibility change so that run fits."""
    trip = _request_or_404(request_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        offer_id = int(request.form.get("offer_id", ""))
        day = date.fromisoformat(request.form.get("date", ""))
        if not 1 <= offer_id <= MAX_ROW_ID:
            raise ValueError
    except ValueError:
        flash("Choix incomplet : recommencez depuis la liste.", "error")
        return redirect(url_for("console.trip_request", request_id=trip.id))
    before = (trip.target_at, trip.flexibility_min, trip.mode)
    try:
        tx.atomic(lambda: candidates.widen_for(trip, offer_id, day, current_user.id))
    except (bookings.BookingError, requests_ops.RequestInputError) as exc:
        db_errors = getattr(exc, "errors", None)
        flash(" ".join(db_errors.values()) if db_errors else str(exc), "error")
        return redirect(url_for("console.trip_request", request_id=trip.id))
    word = "Arriver au plus tard" if trip.mode.value == "arrive_by" else "Partir après"
    local = requests_ops.local_target(trip)
    changed = []
    if trip.target_at != before[0]:
        changed.append(f"{word.lower()} {local:%H:%M}")
    if trip.flexibility_min != before[1]:
        changed.append(f"souplesse {trip.flexibility_min} min")
    flash(f"Demande élargie ({', '.join(changed)}) : dites-le au passager avant de proposer.", "success")
    return redirect(url_for("console.trip_request", request_id=trip.id))
