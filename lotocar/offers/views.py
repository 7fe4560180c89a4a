from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_login import current_user

from lotocar.auth.decorators import current_driver, roles_required
from lotocar.auth.models import Role
from lotocar.candidates.operations import serving_counts
from lotocar.offers import operations as ops
from lotocar.offers.forms import OfferForm, StatusForm

bp = Blueprint("offers", __name__, url_prefix="/mes-trajets")


def _own_offer(offer_id: int):
    offer = ops.get_for_driver(current_driver(), offer_id)
    if offer is None:
        abort(404)
    return offer


@bp.get("/")
@roles_required(Role.DRIVER)
def my_trips():
    driver = current_driver()
    upcoming = ops.upcoming_for_driver(driver)
    serving = serving_counts([item.offer for item in upcoming])
    return render_template("offers/list.html", upcoming=upcoming, serving=serving,
                           past=ops.past_or_cancelled_for_driver(driver), status_form=StatusForm())


def _save(form: OfferForm, offer=None):
    """Validate, then create or update; returns the saved offer or None (errors on the form)."""
    if not form.validate_on_submit():
        return None
    data = form.to_input()
    try:
        if offer is None:
            return ops.create_offer(current_driver(), data, current_user.id)
        return ops.update_offer(offer, data, current_user.id)
    except ops.OfferValidationError as exc:
        form.add_errors(exc.errors)
    except ops.OfferStateError as exc:
        flash(str(exc), "error")
    return None


@bp.route("/nouveau", methods=["GET", "POST"])
@roles_required(Role.DRIVER)
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


@bp.post("/<int:offer_id>/<any(pause, resume, cancel):action>")
@roles_required(Role.DRIVER)
def change_status(offer_id: int, action: str):
    offer = _own_offer(offer_id)
    form = StatusForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        ops.change_status(offer, action, current_user.id)
    except ops.OfferStateError as exc:
        flash(str(exc), "error")
    else:
        flash({"pause": "Trajet mis en pause.", "resume": "Trajet repris.",
               "cancel": "Trajet annulé."}[action], "success")
    return redirect(url_for("offers.my_trips"))
