from __future__ import annotations

from functools import wraps

from flask import abort
from flask_login import current_user, login_required

from lotocar.auth.models import Role


def roles_required(*roles: Role):
    """Login required, then one of `roles` (403 otherwise)."""

    def decorator(view):
        @wraps(view)
        @login_required
        def wrapped(*args, **kwargs):
            if current_user.role not in roles:
                abort(403)
            return view(*args, **kwargs)

        return wrapped

    return decorator


def current_driver():
    """The logged-in user's driver profile (a verified driver), or 403."""
    if not current_user.is_authenticated or current_user.role != Role.DRIVER or current_user.driver is None:
        abort(403)
    return current_user.driver
