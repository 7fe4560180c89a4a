"""Operators' view of the proofs: rides not marked done in time, refusals and their reasons."""
from __future__ import annotations

from flask import Blueprint, Flask, render_template
from flask_login import current_user

from lotocar.auth.decorators import roles_required
from lotocar.auth.models import Role
from lotocar.extensions import db
from lotocar.rpc import journeys
from lotocar.rpc import operations as ops
from lotocar.rpc.models import STATUS_LABELS_FR, RpcJourney

bp = Blueprint("rpc", __name__, url_prefix="/console/preuves")
STAFF = (Role.OPERATOR, Role.ADMIN)


@bp.get("/")
@roles_required(*STAFF)
def index():
    counts = dict(db.session.execute(
        db.select(RpcJourney.status, db.func.count(RpcJourney.id)).group_by(RpcJourney.status)).all())
    recent = db.session.scalars(db.select(RpcJourney).order_by(RpcJourney.created_at.desc()).limit(50)).all()
    return render_template("rpc/index.html", overdue=ops.overdue_rides(), attention=ops.needing_attention(),
                           recent=recent, counts=counts, labels=STATUS_LABELS_FR,
                           configured=ops.configured(), describe=journeys.describe)


def _alerts() -> dict[str, int]:
    """For the console's navigation: rides to mark done, proofs refused (cheap counts)."""
    if not current_user.is_authenticated or current_user.role not in STAFF:
        return {"overdue": 0, "refused": 0}
    return {"overdue": ops.overdue_count(), "refused": ops.attention_count()}


def init_app(app: Flask) -> None:
    app.jinja_env.globals["rpc_alerts"] = _alerts
