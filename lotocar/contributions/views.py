"""Thin views: a driver's choice (his page, or an operator), a passenger's exemption."""
from __future__ import annotations

from flask import Blueprint, Flask, abort, flash, redirect, url_for
from flask_login import current_user

from lotocar.auth.decorators import current_driver, roles_required
from lotocar.auth.models import Role
from lotocar.contributions import operations as ops
from lotocar.contributions.forms import DriverModeForm, ExemptionForm
from lotocar.contributions.pricing import format_eur
from lotocar.drivers.models import Driver
from lotocar.extensions import db
from lotocar.passengers.models import Passenger

bp = Blueprint("contributions", __name__)
STAFF = (Role.OPERATOR, Role.ADMIN)


def _save_mode(driver_id: int) -> None:
    form = DriverModeForm()
    if not form.validate_on_submit():
        flash("Choisissez « Gratuit » ou « Participation suggérée ».", "error")
        return
    try:
        changed = ops.set_driver_mode(driver_id, form.mode.data, current_user.id)
    except ops.ContributionError as exc:
        flash(str(exc), "error")
        return
    db.session.commit()
    if changed:
        flash(f"Participation aux frais : {ops.MODE_LABELS_FR[form.mode.data].lower()}. "
              "Les trajets déjà confirmés ne changent pas.", "success")


@bp.post("/mes-trajets/participation")
@roles_required(Role.DRIVER)
def my_mode():
    _save_mode(current_driver().id)
    return redirect(url_for("offers.my_trips") + "#participation")


@bp.post("/console/conducteurs/<int:driver_id>/participation")
@roles_required(*STAFF)
def driver_mode(driver_id: int):
    if db.session.get(Driver, driver_id) is None:
        abort(404)
    _save_mode(driver_id)
    return redirect(url_for("console.driver", driver_id=driver_id) + "#participation")


@bp.post("/console/passagers/<int:passenger_id>/exoneration")
@roles_required(*STAFF)
def exemption(passenger_id: int):
    if db.session.get(Passenger, passenger_id) is None:
        abort(404)
    form = ExemptionForm()
    target = url_for("console.passenger", passenger_id=passenger_id) + "#participation"
    if not form.validate_on_submit():
        flash("Exonération non enregistrée : motif de 300 caractères au plus.", "error")
        return redirect(target)
    try:
        ops.set_exemption(passenger_id, bool(form.exempt.data), form.reason.data, current_user.id)
    except ops.ContributionError as exc:
        flash(str(exc), "error")
        return redirect(target)
    db.session.commit()
    flash("Passager exonéré de participation." if form.exempt.data else "Exonération levée.", "success")
    return redirect(target)


def init_app(app: Flask) -> None:
    """Template helpers for the pages of other features (driver's page, console)."""
    app.jinja_env.globals.update(
        contribution_mode=ops.driver_mode, contribution_modes=ops.MODE_LABELS_FR,
        contribution_exemption=ops.exemption, contribution_for_booking=ops.for_booking,
        contribution_mode_form=lambda mode: DriverModeForm(formdata=None, mode=mode),
        contribution_exemption_form=lambda: ExemptionForm(formdata=None),
        contribution_settings=ops.settings,
    )
    app.jinja_env.filters["eur"] = format_eur
