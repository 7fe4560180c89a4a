from __future__ import annotations

from flask import Blueprint, abort, jsonify

from lotocar.auth.decorators import roles_required
from lotocar.auth.models import Role
from lotocar.candidates import operations as ops
from lotocar.extensions import db
from lotocar.requests.models import TripRequest

bp = Blueprint("candidates", __name__)


@bp.get("/requests/<int:request_id>/candidates")
@roles_required(Role.OPERATOR, Role.ADMIN)
def request_candidates(request_id: int):
    request = db.session.get(TripRequest, request_id)
    if request is None:
        abort(404)
    return jsonify(ops.ranked_candidates(request))
