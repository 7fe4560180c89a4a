"""The operator's console: thin views over the passengers, requests, candidates and
bookings operations. Keyboard-first: every page puts the focus on the next thing to type."""
from __future__ import annotations

from datetime import date, timedelta

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from lotocar.core import clock, format_fr, timeutil, tx
from lotocar.audit.operations import history
from lotocar.audit.operations import record as audit_record
from lotocar.auth import operations as auth_ops
from lotocar.auth.decorators import roles_required
from lotocar.auth.models import Role
from lotocar.bookings import operations as bookings
from lotocar.bookings import withdrawals
from lotocar.bookings.models import Booking
from lotocar.candidates import operations as candidates
from lotocar.console import maps, queues
from lotocar.console.forms import (ActionForm, CallConsentForm, CallRequestForm, NotesForm, PassengerForm,
                                   RequestForm, SearchForm, UnmetForm)
from lotocar.core.guards import MAX_ROW_ID
from lotocar.core.timeutil import utcnow
from lotocar.extensions import db
from lotocar.notifications import operations as notices
from lotocar.offers.operations import place_input
from lotocar.passengers import operations as passengers
from lotocar.passengers.models import Passenger
from lotocar.requests import operations as requests_ops
from lotocar.requests.models import TripRequest

bp = Blueprint("console", __name__, url_prefix="/console")
STAFF = (Role.OPERATOR, Role.ADMIN)

BOOKING_ACTIONS = {
    "accept": "Le conducteur accepte",
    "decline": "Le conducteur refuse",
    "confirm": "Trajet confirmé au passager",
    "done": "Trajet effectué",
    "no_show": "Passager absent",
    "cancel_by_passenger": "Annulation par le passager",
    "cancel_by_driver": "Annulation par le conducteur",
    "cancel_by_operator": "Annulation par l'équipe",
}
# Actions that only happen after a second, explicit step (a confirmation page, without JS
# too) that says who will be told: nothing is cancelled or closed by one stray key press.
ASKS_CONFIRMATION = frozenset({"done", "no_show", "cancel_by_passenger", "cancel_by_driver", "cancel_by_operator"})
CONFIRM_TITLES = {
    "done": "Déclarer le trajet effectué ?",
    "no_show": "Déclarer le passager absent ?",
    "cancel_by_passenger": "Annuler la réservation à la demande du passager ?",
    "cancel_by_driver": "Annuler la réservation à la demande du conducteur ?",
    "cancel_by_operator": "Annuler la réservation (décision de l'équipe) ?",
}
CONFIRM_BUTTONS = {
    "done": "Oui, le trajet a eu lieu",
    "no_show": "Oui, le passager était absent",
    "cancel_by_passenger": "Oui, annuler la réservation",
    "cancel_by_driver": "Oui, annuler la réservation",
    "cancel_by_operator": "Oui, annuler la réservation",
}


def _confirmed() -> bool:
    """The second step of a confirmed action was taken (the confirmation page's button)."""
    return request.form.get("confirmed") == "1"


def _messages_for(kind: str, key):
    """SMS history when the notifications feature provides it (issue #5)."""
    try:
        from lotocar.notifications import operations as notes
    except ImportError:
        return None
    fn = getattr(notes, "messages_for_booking" if kind == "booking" else "messages_for_phone", None)
    return fn(key) if fn else None


def _filter_from_args() -> tuple[queues.QueueFilter, dict[str, str]]:
    errors: dict[str, str] = {}

    def parse(name: str) -> date | None:
        raw = request.args.get(name, "").strip()
        if not raw:
            return None
        try:
            return date.fromisoformat(raw)
        except ValueError:
            errors[name] = "Date non valide (format AAAA-MM-JJ)."
            return None

    start, end = parse("du"), parse("au")
    epci = request.args.get("epci", "").strip() or None
    if epci and epci not in {code for code, _ in queues.epcis()}:
        errors["epci"] = "Intercommunalité inconnue."
        epci = None
    return queues.QueueFilter(start=start, end=end, epci=epci), errors


@bp.get("/")
@roles_required(*STAFF)
def index():
    queue = request.args.get("file", "a-traiter")
    if queue not in queues.QUEUES:
        abort(404)
    qfilter, errors = _filter_from_args()
    return render_template(
        "console/index.html", sms_budget_alert=auth_ops.budget_alert(utcnow() - timedelta(hours=24)),
        queue=queue, queues=queues.QUEUES, counts=queues.counts(qfilter),
        items=queues.listing(queue, qfilter), qfilter=qfilter, filter_errors=errors,
        epcis=queues.epcis(), search=SearchForm(formdata=None), flags=bookings.FLAGS_FR,
        status_fr=requests_ops.STATUS_FR, reasons_fr=requests_ops.REASONS_FR,
        live_booking=bookings.live_booking,
    ), (400 if errors else 200)


@bp.get("/appel")
@roles_required(*STAFF)
def new_call():
    form = SearchForm(request.args)
    results = passengers.search(form.q.data) if form.q.data else []
    register = PassengerForm(formdata=None)
    call = CallRequestForm(formdata=None)
    call.day.data = clock.now_local().date() + timedelta(days=1)
    if form.q.data and not results:
        digits = "".join(ch for ch in form.q.data if ch.isdigit() or ch == "+")
        if len(digits) >= 6:
            register.phone.data = form.q.data
        else:
            parts = form.q.data.split(maxsplit=1)
            register.first_name.data = parts[0].capitalize()
            register.last_name.data = parts[1] if len(parts) > 1 else ""
    return render_template("console/new_call.html", form=form, results=results, register=register,
                           call=call, searched=bool(form.q.data))


def _request_input(form: RequestForm, passenger_id: int | None, default_origin=None):
    origin = form.origin.commune or default_origin
    return requests_ops.RequestInput(
        passenger_id=passenger_id,
        origin=place_input(origin, *form.origin.meeting_point(form.origin_place.data)),
        destination=place_input(form.destination.commune,
                                *form.destination.meeting_point(form.destination_place.data)),
        mode=form.mode.data, day=form.day.data, at=form.at.data,
        flexibility_min=form.flexibility_min.data, reason=form.reason.data, notes=form.notes.data,
        seats=form.seats.data, return_wanted=form.wants_return(), return_mode=form.return_input_mode(),
        return_at=form.return_at.data, return_day=form.return_day.data)


def _attach(form, errors: dict[str, str]) -> None:
    for name, message in errors.items():
        name = {"origin_lat": "origin", "destination_lat": "destination"}.get(name, name)
        field = getattr(form, name, None)
        if field is not None and not field.errors:
            field.errors = list(field.errors) + [message]


@bp.post("/passagers")
@roles_required(*STAFF)
def register_passenger():
    """A new passenger and, in the same page, their first request (fewer steps on the phone)."""
    form = PassengerForm()
    call = CallRequestForm()
    with_request = bool((call.destination.data or "").strip())
    form_ok = form.validate_on_submit()
    call_ok = call.validate() if with_request else True
    data = passengers.PassengerInput(
        first_name=form.first_name.data or "", last_name=form.last_name.data or "",
        phone=form.phone.data or "", home_insee=form.home.commune.insee if form.home.commune else None,
        has_no_car=bool(form.has_no_car.data), sms_consent=bool(form.sms_consent.data),
        needs=form.needs.data, notes=form.notes.data, call_consent=bool(form.call_consent.data),
        prefers_calls=bool(form.prefers_calls.data), needs_flags=form.needs_flags())
    person_errors, _phone, _mobile = passengers.validate(data)
    request_data = _request_input(call, None, form.home.commune) if with_request else None
    request_errors = requests_ops.validate(request_data, utcnow(), check_passenger=False) if with_request else {}
    existing = passengers.find_by_phone(data.phone)
    if existing is not None:
        flash(f"Ce numéro est déjà connu : {existing.first_name} {existing.last_name}. Voici sa fiche.",
              "warning")
        return redirect(url_for("console.passenger", passenger_id=existing.id))
    if form_ok and call_ok and not person_errors and not request_errors:
        def register_and_request():
            person = passengers.register(data, current_user.id)
            if not with_request:
                return person, None
            outbound, _back = requests_ops.create_request(
                _request_input(call, person.id, person.home), current_user.id)
            return person, outbound

        person, outbound = tx.atomic(register_and_request)  # the person and her request, together
        flash(f"{person.first_name} {person.last_name} est enregistré·e.", "success")
        if outbound is None:
            return redirect(url_for("console.new_request", passenger_id=person.id))
        return redirect(url_for("console.trip_request", request_id=outbound.id))
    _attach(form, person_errors)
    _attach(call, request_errors)
    return render_template("console/new_call.html", form=SearchForm(formdata=None), results=[],
                           register=form, call=call, searched=True), 400


def _passenger_or_404(passenger_id: int) -> Passenger:
    passenger = db.session.get(Passenger, passenger_id)
    if passenger is None:
        abort(404)
    return passenger


@bp.get("/passagers/<int:passenger_id>")
@roles_required(*STAFF)
def passenger(passenger_id: int):
    person = _passenger_or_404(passenger_id)
    reqs = list(db.session.scalars(db.select(TripRequest).where(TripRequest.passenger_id == person.id)
                                   .order_by(TripRequest.target_at.desc())))
    all_bookings = list(db.session.scalars(
        db.select(Booking).join(TripRequest, TripRequest.id == Booking.request_id)
        .where(TripRequest.passenger_id == person.id).order_by(Booking.created_at.desc())))
    notes_form = NotesForm(formdata=None, obj=person)
    consent_form = CallConsentForm(formdata=None, data={"call_consent": person.call_consent_at is not None,
                                                        "prefers_calls": person.prefers_calls})
    return render_template("console/passenger.html", person=person, requests=reqs, bookings=all_bookings,
                           notes_form=notes_form, consent_form=consent_form,
                           calls=notices.calls_for_phone(person.phone), channel=notices.channel_label(person),
                           status_fr=requests_ops.STATUS_FR,
                           booking_labels=bookings.STATUS_LABELS_FR, reasons_fr=requests_ops.REASONS_FR,
                           messages=_messages_for("phone", person.phone),
                           audit=history("passenger", person.id))


@bp.post("/passagers/<int:passenger_id>/notes")
@roles_required(*STAFF)
def passenger_notes(passenger_id: int):
    person = _passenger_or_404(passenger_id)
    form = NotesForm()
    if form.validate_on_submit():
        tx.atomic(lambda: passengers.update_notes(person, form.notes.data, form.needs.data, current_user.id))
        flash("Notes enregistrées.", "success")
    else:
        flash("Notes non enregistrées : 2000 caractères au plus.", "error")
    return redirect(url_for("console.passenger", passenger_id=person.id))


@bp.post("/passagers/<int:passenger_id>/appels")
@roles_required(*STAFF)
def passenger_call_consent(passenger_id: int):
    """The call consent, asked on the phone: recorded with its date (or withdrawn)."""
    person = _passenger_or_404(passenger_id)
    form = CallConsentForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        passengers.set_call_consent(person, bool(form.call_consent.data), bool(form.prefers_calls.data),
                                    current_user.id)
    except passengers.PassengerError as exc:
        db.session.rollback()
        flash(" ".join(exc.errors.values()), "error")
    else:
        db.session.commit()
        flash("Accord pour les appels automatiques enregistré." if person.call_consent_at
              else "Appels automatiques désactivés pour cette personne.", "success")
    return redirect(url_for("console.passenger", passenger_id=person.id))


@bp.route("/passagers/<int:passenger_id>/demande", methods=["GET", "POST"])
@roles_required(*STAFF)
def new_request(passenger_id: int):
    person = _passenger_or_404(passenger_id)
    form = RequestForm()
    if not form.is_submitted():
        form.origin.set_commune(person.home)
        form.day.data = clock.now_local().date() + timedelta(days=1)
    if form.is_submitted():
        form_ok = form.validate_on_submit()
        data = _request_input(form, person.id)
        try:
            if not form_ok:  # show the business-rule errors too, all at once
                raise requests_ops.RequestInputError(requests_ops.validate(data, utcnow()))
            outbound, back = tx.atomic(lambda: requests_ops.create_request(data, current_user.id))
        except requests_ops.RequestInputError as exc:
            form.add_errors({k: v for k, v in exc.errors.items()
                             if not getattr(form, k, None) or not getattr(form, k).errors})
        else:
            if back is not None:
                flash("Aller et retour enregistrés : commencez par l'aller.", "success")
            return redirect(url_for("console.trip_request", request_id=outbound.id))
    return render_template("console/request_form.html", form=form, person=person), (400 if form.errors else 200)


def _request_or_404(request_id: int) -> TripRequest:
    trip = db.session.get(TripRequest, request_id)
    if trip is None:
        abort(404)
    return trip


@bp.get("/demandes/<int:request_id>")
@roles_required(*STAFF)
def trip_request(request_id: int):
    trip = _request_or_404(request_id)
    live = bookings.live_booking(trip.id)
    found = candidates.ranked_candidates(trip) if live is None and trip.status.value in ("open", "unmet") else None
    misses = candidates.near_misses(trip, found) if found is not None else []
    linked = db.session.scalars(db.select(TripRequest).where(
        (TripRequest.return_of_id == trip.id) | (TripRequest.id == (trip.return_of_id or -1)))).all()
    past = list(db.session.scalars(db.select(Booking).where(Booking.request_id == trip.id)
                                   .order_by(Booking.created_at.desc())))
    return render_template(
        "console/request.html", trip=trip, live=live, found=found, misses=misses, linked=linked, past=past,
        editable=trip.status in requests_ops.EDITABLE, map_data=maps.request_map(trip, found),
        action_form=ActionForm(formdata=None), unmet_form=UnmetForm(formdata=None),
        actions=BOOKING_ACTIONS, booking_labels=bookings.STATUS_LABELS_FR, flags=bookings.FLAGS_FR,
        status_fr=requests_ops.STATUS_FR, reasons_fr=requests_ops.REASONS_FR,
        allowed=lambda b: [a for a, (src, _t) in bookings.TRANSITIONS.items() if b.status in src],
    )


@bp.post("/demandes/<int:request_id>/proposer")
@roles_required(*STAFF)
def propose(request_id: int):
    trip = _request_or_404(request_id)
    form = ActionForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        offer_id = int(request.form.get("offer_id", ""))
        day = date.fromisoformat(request.form.get("date", ""))
        if not 1 <= offer_id <= MAX_ROW_ID:  # no such row, and past what the database can compare
            raise ValueError
    except ValueError:
        flash("Choix de conducteur incomplet : recommencez depuis la liste.", "error")
        return redirect(url_for("console.trip_request", request_id=trip.id))
    try:
        ask_detour = request.form.get("ask_detour") == "1"  # a detour near miss: the driver is asked
        booking = tx.atomic(lambda: candidates.propose_candidate(trip, offer_id, day, current_user.id,
                                                                 ask_detour=ask_detour))
    except bookings.BookingError as exc:
        flash(str(exc), "error")
        return redirect(url_for("console.trip_request", request_id=trip.id))
    back = _open_return(trip)
    if back is not None:  # a round trip: straight on to the return's candidates
        flash(f"Aller proposé à {booking.offer.driver.user.first_name}. Maintenant le retour.", "success")
        return redirect(url_for("console.trip_request", request_id=back.id))
    flash("Conducteur sollicité : notez sa réponse dès qu'il l'a donnée.", "success")
    return redirect(url_for("console.booking", booking_id=booking.id))


def _open_return(trip: TripRequest) -> TripRequest | None:
    """The return of this outbound, when it still waits for a driver."""
    back = db.session.scalar(db.select(TripRequest).where(TripRequest.return_of_id == trip.id)
                             .order_by(TripRequest.id))
    if back is None or back.status.value not in ("open", "unmet") or bookings.live_booking(back.id) is not None:
        return None
    return back


@bp.post("/demandes/<int:request_id>/sans-solution")
@roles_required(*STAFF)
def unmet(request_id: int):
    trip = _request_or_404(request_id)
    form = UnmetForm()
    if not form.validate_on_submit():
        flash("Choisissez une raison.", "error")
        return redirect(url_for("console.trip_request", request_id=trip.id))
    reason = form.reason.data + (f" — {form.detail.data}" if form.detail.data else "")
    if not _confirmed():  # the second step: say what it means, change nothing yet
        person = trip.passenger
        return render_template(
            "console/confirm.html", title="Classer la demande sans solution ?",
            facts=[f"{person.first_name} {person.last_name} : {trip.origin.display_name} → "
                   f"{trip.destination.display_name}", f"Raison : {reason}"],
            notice="Aucun message automatique ne partira.",
            call_notice=f"{person.first_name} {person.last_name} n'est pas prévenu·e automatiquement : "
                        "dites-le-lui pendant l'appel (la demande sera signalée si un conducteur possible publie "
                        "un trajet).",
            action=url_for("console.unmet", request_id=trip.id), form=form,
            carry={"reason": form.reason.data, "detail": form.detail.data or ""},
            submit="Oui, classer sans solution",
            back=url_for("console.trip_request", request_id=trip.id), back_label="Non, revenir à la demande")
    try:
        tx.atomic(lambda: bookings.mark_unmet(trip, reason, current_user.id))
    except bookings.BookingError as exc:
        flash(str(exc), "error")
    else:
        flash("Demande classée sans solution.", "info")
    return redirect(url_for("console.index"))


@bp.post("/demandes/<int:request_id>/annuler")
@roles_required(*STAFF)
def cancel_request(request_id: int):
    trip = _request_or_404(request_id)
    form = ActionForm()
    if not form.validate_on_submit():
        abort(400)
    if not _confirmed():  # the second step: who will be told, nothing changed yet
        live = bookings.live_booking(trip.id)
        person = trip.passenger
        facts = [f"{person.first_name} {person.last_name} : {trip.origin.display_name} → "
                 f"{trip.destination.display_name}, {format_fr.request_window_fr(trip)}"]
        if live is not None:
            notice = notices.who_is_told(live, "cancel_by_passenger", current_user.id)
            facts.append(f"Sa réservation avec {live.offer.driver.user.first_name} "
                         f"({bookings.STATUS_LABELS_FR[live.status].lower()}) sera annulée.")
            sentence, call_sentence = notice.sentence, notice.call_sentence
        else:
            sentence, call_sentence = "Aucun message automatique ne partira (aucun conducteur n'est concerné).", ""
        return render_template(
            "console/confirm.html", title="Le passager annule sa demande ?", facts=facts,
            notice=sentence, call_notice=call_sentence,
            action=url_for("console.cancel_request", request_id=trip.id), form=form,
            carry={}, reason_field=True, submit="Oui, annuler la demande",
            back=url_for("console.trip_request", request_id=trip.id), back_label="Non, revenir à la demande")
    try:
        tx.atomic(lambda: bookings.cancel_request(trip, current_user.id,
                                                 form.reason.data or "Annulée par le passager"))
    except bookings.BookingError as exc:
        flash(str(exc), "error")
    else:
        flash("Demande annulée.", "info")
    return redirect(url_for("console.trip_request", request_id=trip.id))


@bp.post("/demandes/<int:request_id>/vu")
@roles_required(*STAFF)
def clear_flag(request_id: int):
    trip = _request_or_404(request_id)
    if ActionForm().validate_on_submit():
        tx.atomic(lambda: bookings.flag_request(trip, None))
    return redirect(url_for("console.trip_request", request_id=trip.id))


def _booking_or_404(booking_id: int) -> Booking:
    item = db.session.get(Booking, booking_id)
    if item is None:
        abort(404)
    return item


@bp.get("/reservations/<int:booking_id>")
@roles_required(*STAFF)
def booking(booking_id: int):
    """The booking and its next step. Recording someone's answer is always an explicit button,
    never the focused default: the focus lands on the page's heading (the state), so keys
    pressed after "Proposer" never answer for the driver or the passenger."""
    item = _booking_or_404(booking_id)
    allowed = bookings.allowed_actions(item)
    return render_template(
        "console/booking.html", booking=item, action_form=ActionForm(formdata=None),
        actions=BOOKING_ACTIONS, labels=bookings.STATUS_LABELS_FR, allowed=allowed,
        asks_confirmation=ASKS_CONFIRMATION,
        confirm_notice=notices.who_is_told(item, "confirm", current_user.id) if "confirm" in allowed else None,
        status_fr={s.value: label for s, label in bookings.STATUS_LABELS_FR.items()},
        audit=history("booking", item.id), messages=_messages_for("booking", item.id),
        calls=notices.calls_for_booking(item.id),
    )


@bp.post("/reservations/<int:booking_id>/<action>")
@roles_required(*STAFF)
def booking_action(booking_id: int, action: str):
    if action not in BOOKING_ACTIONS:
        abort(404)
    form = ActionForm()
    if not form.validate_on_submit():
        abort(400)
    item = _booking_or_404(booking_id)
    if action in ASKS_CONFIRMATION and not _confirmed():
        if action not in bookings.allowed_actions(item):  # say why now, not after the second step
            try:
                bookings.check_on_the_day(item, action)
            except bookings.BookingError as exc:
                flash(str(exc), "error")
            else:
                flash(f"Impossible : la réservation est « {bookings.STATUS_LABELS_FR[item.status]} ».", "error")
            return redirect(url_for("console.booking", booking_id=item.id))
        notice = notices.who_is_told(item, action, current_user.id)
        req, driver = item.request, item.offer.driver.user
        facts = [f"{req.passenger.first_name} {req.passenger.last_name} avec {driver.first_name} {driver.last_name}, "
                 f"le {timeutil.format_date_fr(item.occurrence_date)}"
                 + (f", prise en charge à {timeutil.format_time_fr(timeutil.to_local(item.pickup_at))}"
                    if item.pickup_at else "") + ".",
                 f"Réservation : {bookings.STATUS_LABELS_FR[item.status].lower()}."]
        return render_template(
            "console/confirm.html", title=CONFIRM_TITLES[action], facts=facts,
            notice=notice.sentence, call_notice=notice.call_sentence,
            action=url_for("console.booking_action", booking_id=item.id, action=action), form=form,
            carry={}, reason_field=True, submit=CONFIRM_BUTTONS[action],
            back=url_for("console.booking", booking_id=item.id), back_label="Non, revenir à la réservation")
    try:
        tx.atomic(lambda: bookings.transition(item.id, action, current_user.id,
                                              form.reason.data or BOOKING_ACTIONS[action]))
    except bookings.BookingError as exc:
        flash(str(exc), "error")
        return redirect(url_for("console.booking", booking_id=item.id))
    flash(f"{BOOKING_ACTIONS[action]} : enregistré.", "success")
    if action in ("decline", "cancel_by_driver", "cancel_by_operator"):
        return redirect(url_for("console.trip_request", request_id=item.request_id))
    return redirect(url_for("console.booking", booking_id=item.id))


# --- drivers (for operators) and personal data (admins) ---------------------------------------

@bp.get("/conducteurs")
@roles_required(*STAFF)
def drivers():
    from lotocar.auth.models import User
    from lotocar.drivers.models import Driver

    q = (request.args.get("q") or "").strip()[:80]
    query = db.select(Driver).join(User, User.id == Driver.user_id).where(User.anonymised_at.is_(None))
    if q:
        like = f"%{q.lower()}%"
        digits = "".join(ch for ch in q if ch.isdigit())
        cond = db.func.lower(User.first_name).like(like) | db.func.lower(User.last_name).like(like)
        if len(digits) >= 4:
            cond = cond | User.phone.like(f"%{digits[-8:]}")
        query = query.where(cond)
    items = db.session.scalars(query.order_by(User.last_name, User.first_name).limit(200)).all()
    return render_template("console/drivers.html", drivers=items, q=q)


@bp.get("/conducteurs/<int:driver_id>")
@roles_required(*STAFF)
def driver(driver_id: int):
    from lotocar.drivers.models import Driver
    from lotocar.offers.models import Offer

    item = db.session.get(Driver, driver_id)
    if item is None:
        abort(404)
    offers = db.session.scalars(db.select(Offer).where(Offer.driver_id == item.id)
                                .order_by(Offer.created_at.desc())).all()
    rides = db.session.scalars(db.select(Booking).join(Offer, Offer.id == Booking.offer_id)
                               .where(Offer.driver_id == item.id).order_by(Booking.created_at.desc())).all()
    return render_template("console/driver.html", driver=item, offers=offers, rides=rides,
                           labels=bookings.STATUS_LABELS_FR, action_form=ActionForm(formdata=None),
                           withdrawn=withdrawals.recent(item.user_id),
                           messages=_messages_for("phone", item.user.phone) if item.user.phone else None)


@bp.post("/conducteurs/<int:driver_id>/deconnecter")
@roles_required(*STAFF)
def driver_end_sessions(driver_id: int):
    """A lost or lent phone: every session and "remember me" cookie of the driver ends."""
    from lotocar.drivers.models import Driver

    item = db.session.get(Driver, driver_id)
    if item is None:
        abort(404)
    if not ActionForm().validate_on_submit():
        abort(400)
    auth_ops.end_sessions(item.user)
    audit_record(current_user.id, "user", item.user_id, "sessions_ended_by_staff")
    db.session.commit()
    flash("Le conducteur est déconnecté de tous ses appareils.", "success")
    return redirect(url_for("console.driver", driver_id=driver_id))


@bp.get("/rgpd/<any(passenger, driver):kind>/<int:person_id>/export")
@roles_required(Role.ADMIN)
def privacy_export(kind: str, person_id: int):
    from flask import Response
    import json

    from lotocar.privacy import operations as privacy

    try:
        data = privacy.export_passenger(person_id) if kind == "passenger" else privacy.export_driver(person_id)
    except privacy.PrivacyError:
        abort(404)
    tx.atomic(lambda: privacy.record_export(kind, person_id, current_user.id))
    body = json.dumps(data, ensure_ascii=False, indent=2)
    return Response(body, mimetype="application/json", headers={
        "Content-Disposition": f'attachment; filename="lotocar-{kind}-{person_id}.json"'})


@bp.post("/rgpd/<any(passenger, driver):kind>/<int:person_id>/effacer")
@roles_required(Role.ADMIN)
def privacy_erase(kind: str, person_id: int):
    from lotocar.privacy import operations as privacy

    form = ActionForm()
    if not form.validate_on_submit():
        abort(400)
    reason = (form.reason.data or "").strip()
    target = (url_for("console.passenger", passenger_id=person_id) if kind == "passenger"
              else url_for("console.driver", driver_id=person_id))
    if not reason:
        flash("Indiquez le motif de l'effacement (ex. : demande écrite du 12/03).", "error")
        return redirect(target)
    try:
        tx.atomic(lambda: privacy.anonymise_passenger(person_id, current_user.id, reason) if kind == "passenger"
                  else privacy.anonymise_driver(person_id, current_user.id, reason))
    except privacy.PrivacyError:
        abort(404)
    flash("Données personnelles effacées. Les trajets restent, anonymes, dans les statistiques.", "success")
    return redirect(target)
