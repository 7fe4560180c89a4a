"""Twilio Voice webhooks (issue #17): what a call says, the key pressed, the call's status.

All three are exempt from CSRF (Twilio cannot send a token) but never from the
X-Twilio-Signature check, computed on PUBLIC_BASE_URL + path (+ query) so it holds behind a
reverse proxy. The TwiML and Gather URLs carry only the attempt's random token in their path.
"""
from __future__ import annotations

import logging

from flask import Blueprint, Response, abort, request

from lotocar.extensions import csrf, db
from lotocar.notifications import calls
from lotocar.notifications.views import signature_valid

log = logging.getLogger("lotocar.voice")
bp = Blueprint("voice", __name__, url_prefix="/voice/webhooks")


def _signed() -> None:
    if not signature_valid():
        log.warning("Twilio voice webhook refused (bad or missing signature) on %s", request.path)
        abort(403)


def _xml(body: str) -> Response:
    return Response(body, mimetype="text/xml")


@bp.post("/twiml/<token>")
@csrf.exempt
def twiml(token: str):
    _signed()
    body = calls.twiml_for(token, request.form.get("CallSid") or None, request.form.get("AnsweredBy") or None)
    db.session.commit()
    return _xml(body)


@bp.post("/gather/<token>")
@csrf.exempt
def gather(token: str):
    _signed()
    body = calls.digits_pressed(token, request.form.get("CallSid") or None, request.form.get("Digits", ""))
    db.session.commit()
    return _xml(body)


@bp.post("/status")
@csrf.exempt
def status():
    _signed()
    raw_id = request.args.get("m", "")
    duration = request.form.get("CallDuration", "")
    calls.apply_call_status(int(raw_id) if raw_id.isdigit() and len(raw_id) < 12 else None,
                            request.form.get("CallSid") or None, request.form.get("CallStatus"),
                            request.form.get("AnsweredBy") or None,
                            int(duration) if duration.isdigit() and len(duration) < 9 else None)
    db.session.commit()
    return Response(status=204)
