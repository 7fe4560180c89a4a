from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user

from lotocar.auth.decorators import current_driver, roles_required
from lotocar.auth.models import Role
from lotocar.bookings import operations as bookings
from lotocar.bookings import withdrawals
from lotocar.bookings.models import Booking, BookingStatus
from lotocar.candidates.operations import serving_counts
from lotocar.core import tx
from lotocar.drivers import operations as drivers
from lotocar.drivers.forms import AcceptsForm
from lotocar.extensions import db, limiter
from lotocar.offers import operations as ops
from lotocar.offers import trip_views as trips
from lotocar.offers.forms import OfferForm, StatusForm

bp = Blueprint("offers", __name__, url_prefix="/mes-trajets")


def _own_offer(offer_id: int):
    offer = ops.get_for_driver(current_driver(), offer_id)
    if offer is None:
        abort(404)
    return offer


# What a driver reads about his own bookings: words for him, not the operators' labels.
DRIVER_LABELS_FR = {
    BookingStatus.PROPOSED: "On vous a proposé ce passager : répondez",
    BookingStatus.ACCEPTED_BY_DRIVER: "Vous avez accepté : l'équipe confirme au passager",
    BookingStatus.CONFIRMED: "Confirmé : le passager compte sur vous",
}


@bp.get("/")
@roles_required(Role.DRIVER)
def my_trips():
    driver = current_driver()
    upcoming = ops.upcoming_for_driver(driver)
    serving = serving_counts([item.offer for item in upcoming])
    rides = bookings.for_driver(driver.id)
    return render_template("offers/list.html", upcoming=upcoming, serving=serving,
                           past=ops.past_or_cancelled_for_driver(driver), status_form=StatusForm(),
                           rides=rides, runs=bookings.driver_runs(rides),
                           labels={**bookings.STATUS_LABELS_FR, **DRIVER_LABELS_FR},
                           proposed_to_me={b.offer_id: sum(1 for r in rides if r.offer_id == b.offer_id
                                                           and r.status == BookingStatus.PROPOSED)
                                           for b in rides},
                           may_see_contact=bookings.driver_may_see_contact)


def _save(form: OfferForm, offer=None):
    """Validate, then create or update — the trip and everything it causes (bookings kept,
    moved or cancelled, SMS, flags) in one transaction; returns the saved offer or None
    (errors on the form, nothing saved)."""
    if not form.validate_on_submit():
        return None
    data = form.to_input()
    try:
        if offer is None:
            return tx.atomic(lambda: ops.create_offer(current_driver(), data, current_user.id))
        return tx.atomic(lambda: ops.update_offer(offer, data, current_user.id))
    except ops.OfferValidationError as exc:
        form.add_errors(exc.errors)
    except (ops.OfferStateError, bookings.BookingError) as exc:
        flash(str(exc), "error")
    return None


def _create_limit() -> str:
    return current_app.config["OFFER_CREATE_LIMIT"]


def _per_account() -> str:
    return f"user:{current_user.get_id().partition(':')[0]}" if current_user.is_authenticated else "anon"


@bp.route("/nouveau", methods=["GET", "POST"])
@roles_required(Role.DRIVER)
@limiter.limit(_create_limit, methods=["POST"], key_func=_per_account,
               deduct_when=lambda response: response.status_code == 302)
def new():
    driver = current_driver()
    form = OfferForm()
    if not form.is_submitted():
        form.origin.set_commune(driver.home)
        form.first_date.data = ops.default_first_date()
    saved = _save(form)
    if saved is not None:
        flash("Votre trajet est enregistré. Merci !", "success")
        return redirect(url_for("offers.my_trips"))
    return render_template("offers/form.html", form=form, offer=None), (400 if form.errors else 200)


@bp.route("/<int:offer_id>/modifier", methods=["GET", "POST"])
@roles_required(Role.DRIVER)
def edit(offer_id: int):
    offer = _own_offer(offer_id)
    form = OfferForm()
    if not form.is_submitted():
        form.fill_from(offer)
    saved = _save(form, offer)
    if saved is not None:
        flash("Votre trajet est modifié.", "success")
        return redirect(url_for("offers.my_trips"))
    return render_template("offers/form.html", form=form, offer=offer), (400 if form.errors else 200)


@bp.route("/<int:offer_id>/<any(pause, resume, cancel):action>", methods=["GET", "POST"])
@roles_required(Role.DRIVER)
def change_status(offer_id: int, action: str):
    """Pause and cancel first show who is booked and what they will be told (a GET, or the
    card's POST without `confirm`); the confirmation page's POST does it. Resume is at once."""
    return _trip_action(_own_offer(offer_id), action, None)


@bp.route("/<int:offer_id>/annuler-une-date", methods=["GET", "POST"])
@roles_required(Role.DRIVER)
def skip_date(offer_id: int):
    """Cancel one date of a regular trip (`jour=YYYY-MM-DD`), after the confirmation page."""
    return _trip_action(_own_offer(offer_id), "skip", _day_field())


@bp.post("/<int:offer_id>/retablir-une-date")
@roles_required(Role.DRIVER)
def restore_date(offer_id: int):
    return _trip_action(_own_offer(offer_id), "restore", _day_field())


def _day_field():
    return trips.parse_day(request.values.get("jour"))


def _trip_action(offer, action: str, day):
    return trip_action_page(offer, action, day, url_for("offers.my_trips"),
                            lambda: trips.act(offer, action, day, current_user.id))


def trip_action_page(offer, action: str, day, back: str, change, *, by_operator: bool = False,
                     done_suffix: str = ""):
    """The edge of a trip action (pause, resume, cancel, one date cancelled or restored) for
    the driver's page and for an operator acting for him: the confirmation page first for
    the actions that tell passengers, then `change` in one transaction."""
    form = StatusForm()
    if request.method == "POST" and not form.validate_on_submit():
        abort(400)
    try:
        trips.check(offer, action, day)
    except ops.OfferStateError as exc:
        flash(str(exc), "error")
        return redirect(back)
    if action in trips.CONFIRMED_ACTIONS and not (request.method == "POST" and request.form.get("confirm") == "1"):
        return render_template("offers/confirm.html", offer=offer, action=action, day=day,
                               affected=trips.affected(offer, day if action == "skip" else None,
                                                       by_operator=by_operator),
                               title=trips.TITLES[action], button=trips.BUTTONS[action],
                               post_url=request.path, back_url=back, status_form=form,
                               by_operator=by_operator, day_words=trips.day_words)
    if request.method != "POST":
        abort(405)
    try:
        tx.atomic(change)
    except (ops.OfferStateError, bookings.BookingError) as exc:
        flash(str(exc), "error")
    else:
        flash(trips.done_message(action, day) + done_suffix, "success")
    return redirect(back)


DRIVER_ACTIONS = {"accept": "accept", "decline": "decline"}


def _own_booking(booking_id: int) -> Booking:
    booking = db.session.get(Booking, booking_id)
    if booking is None or booking.offer.driver_id != current_driver().id:
        abort(404)
    return booking


@bp.post("/reservations/<int:booking_id>/<any(accept, decline):action>")
@roles_required(Role.DRIVER)
def answer(booking_id: int, action: str):
    """The driver answers a proposal from their own page."""
    booking = _own_booking(booking_id)
    if not StatusForm().validate_on_submit():
        abort(400)
    try:
        tx.atomic(lambda: bookings.transition(booking.id, DRIVER_ACTIONS[action], current_user.id,
                                              {"accept": "Accepté par le conducteur (site)",
                                               "decline": "Refusé par le conducteur (site)"}[action]))
    except bookings.BookingError as exc:
        flash(str(exc), "error")
    else:
        flash({"accept": "Merci ! L'équipe confirme au passager et vous tient informé·e.",
               "decline": "C'est noté : l'équipe cherche un autre conducteur."}[action], "success")
    return redirect(url_for("offers.my_trips"))


@bp.route("/reservations/<int:booking_id>/cancel", methods=["GET", "POST"])
@roles_required(Role.DRIVER)
def withdraw(booking_id: int):
    """"Je ne peux plus": the driver gives up a passenger he took. A page first says who is
    let down, when and what happens next (or that he must phone the team past the limit of
    withdrawals); only its POST with `confirm` cancels — a stray tap, or a phone without
    JavaScript, never lets a passenger down by itself."""
    booking = _own_booking(booking_id)
    form = StatusForm()
    back = url_for("offers.my_trips")
    if request.method == "POST" and not form.validate_on_submit():
        abort(400)
    if "cancel_by_driver" not in bookings.allowed_actions(booking):
        flash("Cette réservation n'est plus en cours : il n'y a rien à annuler.", "error")
        return redirect(back)
    if not (request.method == "POST" and request.form.get("confirm") == "1"):
        return render_template("offers/withdraw.html", booking=booking, req=booking.request,
                               refused=withdrawals.refusal(booking, current_user.id),
                               status_form=form, back_url=back,
                               contact_shown=bookings.driver_may_see_contact(booking))

    def act() -> None:
        withdrawals.before_driver_withdraws(booking, current_user.id)
        bookings.transition(booking.id, "cancel_by_driver", current_user.id, "Annulé par le conducteur (site)")

    try:
        tx.atomic(act)
    except (bookings.BookingError, withdrawals.WithdrawalRefused) as exc:
        flash(str(exc), "error")
    else:
        flash("C'est noté : l'équipe prévient le passager et cherche une autre solution.", "success")
    return redirect(back)


@bp.route("/ce-que-j-accepte", methods=["GET", "POST"])
@roles_required(Role.DRIVER)
def my_accepts():
    """The driver says what he and his car accept (passengers' needs, issue #14); his trips
    are saved again so the matching follows (and a booked passenger who needs what he no
    longer accepts is told, like after any trip change)."""
    driver = current_driver()
    form = AcceptsForm()
    if not form.is_submitted():
        form.set_accepts(driver.accept_codes)
    elif form.validate_on_submit():
        def save():
            changed = drivers.set_accepts(driver, form.accepts(), current_user.id)
            if changed:
                ops.driver_accepts_changed(driver)
            return changed
        changed = tx.atomic(save)
        flash("C'est noté : l'équipe ne vous proposera que des passagers dont vous acceptez les besoins."
              if changed else "Aucune modification.", "success" if changed else "info")
        return redirect(url_for("offers.my_trips"))
    return render_template("offers/accepts.html", form=form), (400 if form.errors else 200)
