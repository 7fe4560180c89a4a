"""'Mon relevé' for drivers, and any driver's statement for operators (page, PDF, CSV)."""
from __future__ import annotations

from flask import Blueprint, Response, abort, current_app, render_template, request

from lotocar.auth.decorators import current_driver, roles_required
from lotocar.auth.models import Role
from lotocar.core.clock import today_local
from lotocar.drivers.models import Driver
from lotocar.extensions import db
from lotocar.statements import operations as ops
from lotocar.statements import render

bp = Blueprint("statements", __name__)
STAFF = (Role.OPERATOR, Role.ADMIN)


def _month_arg():
    raw = request.args.get("mois")
    if not raw:
        return ops.Month.of(today_local()), None
    try:
        return ops.Month.parse(raw), None
    except ops.StatementError as exc:
        return ops.Month.of(today_local()), str(exc)


def _page(driver: Driver, staff: bool):
    month, error = _month_arg()
    st = ops.statement(driver, month)
    return render_template("statements/statement.html", st=st, staff=staff, error=error, driver=driver,
                           months=ops.months_with_rides(driver.id), current=ops.Month.of(today_local())), \
        (400 if error else 200)


def _file(driver: Driver, month_key: str, ext: str):
    try:
        month = ops.Month.parse(month_key)
    except ops.StatementError:
        abort(404)
    st = ops.statement(driver, month)
    if ext == "pdf":
        body = render.to_pdf(st, current_app.config.get("OPERATOR_PHONE", ""))
        mimetype = "application/pdf"
    else:
        body = render.to_csv(st).encode("utf-8")
        mimetype = "text/csv; charset=utf-8"
    disposition = "inline" if ext == "pdf" else "attachment"
    return Response(body, mimetype=mimetype, headers={
        "Content-Disposition": f'{disposition}; filename="{render.filename(st, ext)}"'})


@bp.get("/mon-releve/")
@roles_required(Role.DRIVER)
def my_statement():
    return _page(current_driver(), staff=False)


@bp.get("/mon-releve/<month_key>.<any(pdf, csv):ext>")
@roles_required(Role.DRIVER)
def my_statement_file(month_key: str, ext: str):
    return _file(current_driver(), month_key, ext)


def _driver_or_404(driver_id: int) -> Driver:
    driver = db.session.get(Driver, driver_id)
    if driver is None:
        abort(404)
    return driver


@bp.get("/console/conducteurs/<int:driver_id>/releve")
@roles_required(*STAFF)
def driver_statement(driver_id: int):
    return _page(_driver_or_404(driver_id), staff=True)


@bp.get("/console/conducteurs/<int:driver_id>/releve/<month_key>.<any(pdf, csv):ext>")
@roles_required(*STAFF)
def driver_statement_file(driver_id: int, month_key: str, ext: str):
    return _file(_driver_or_404(driver_id), month_key, ext)
