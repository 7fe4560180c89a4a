"""SMS web endpoints: drivers' answer links (/r/<token>) and Twilio webhooks (/sms/webhooks/…).

Webhooks are exempt from CSRF (Twilio cannot send a token) but never from the
X-Twilio-Signature check, computed on the public URL (PUBLIC_BASE_URL behind a proxy).
"""
from __future__ import annotations

import logging

from flask import Blueprint, Response, abort, current_app, render_template, request

from lotocar.core import tx
from lotocar.extensions import csrf, db
from lotocar.notifications import inbound, operations, outbox
from lotocar.notifications.models import SmsMessage, SmsStatus

log = logging.getLogger("lotocar.sms")
bp = Blueprint("notifications", __name__)

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


def public_request_url() -> str:
    """The URL Twilio called: PUBLIC_BASE_URL + path + query behind a reverse proxy."""
    base = (current_app.config.get("PUBLIC_BASE_URL") or "").rstrip("/")
    if not base:
        return request.url
    query = request.query_string.decode("latin-1")
    return base + request.path + (f"?{query}" if query else "")


def signature_valid() -> bool:
    from twilio.request_validator import RequestValidator, get_signature_algorithm

    token = current_app.config.get("TWILIO_AUTH_TOKEN") or ""
    signature = request.headers.get("X-Twilio-Signature", "")
    if not token or not signature:
        return False
    algorithm = get_signature_algorithm(request.headers.get("X-Twilio-Webhooks-Signature-Settings"))
    return RequestValidator(token).validate(public_request_url(), request.form, signature, algorithm)


def _require_signature() -> None:
    if not signature_valid():
        log.warning("Twilio webhook refused (bad or missing signature) on %s", request.path)
        abort(403)


def _sid_matches(msg_id: int, sid: str | None) -> bool:
    """`?m=<id>` names a row only with its own SID, or while its send is in flight (the
    callback may arrive before the worker wrote the SID down). A row never sent (pending)
    has no delivery to report, whatever SID comes with it."""
    row = db.session.get(SmsMessage, msg_id)
    if row is None or not sid:
        return False
    if row.provider_id:
        return row.provider_id == sid
    return row.status in (SmsStatus.SENDING, SmsStatus.UNKNOWN)


@bp.post("/sms/webhooks/status")
@csrf.exempt
def status_callback():
    _require_signature()
    raw_id = request.args.get("m", "")
    code = request.form.get("ErrorCode", "")
    sid = request.form.get("MessageSid") or None
    msg_id = int(raw_id) if raw_id.isdigit() and len(raw_id) <= 12 else None
    if msg_id is not None and not _sid_matches(msg_id, sid):
        msg_id = None  # only the SID can name the message now (unknown SID: ignored)
    tx.atomic(lambda: outbox.apply_provider_status(
        msg_id, sid,
        request.form.get("MessageStatus") or request.form.get("SmsStatus"),
        int(code) if code.isdigit() else None))
    return Response(status=204)


@bp.post("/sms/webhooks/inbound")
@csrf.exempt
def inbound_sms():
    _require_signature()
    tx.atomic(lambda: inbound.handle_inbound(
        request.form.get("MessageSid") or request.form.get("SmsSid"), request.form.get("From", ""),
        request.form.get("To"), request.form.get("Body", "")))
    return Response(EMPTY_TWIML, mimetype="text/xml")


@bp.get("/r/<token>")
def answer_page(token: str):
    try:
        question = operations.link_question(token)
    except operations.LinkClosed as closed:
        return render_template("notifications/answer_closed.html", message=str(closed)), closed.status
    return render_template("notifications/answer.html", q=question)


@bp.post("/r/<token>")
def answer(token: str):
    try:
        message = tx.atomic(lambda: operations.answer_link(token, (request.form.get("answer") or "").strip().lower()))
    except operations.LinkClosed as closed:
        return render_template("notifications/answer_closed.html", message=str(closed)), closed.status
    return render_template("notifications/answer_done.html", message=message)
