"""Booking events for other features (SMS notifications subscribe here).

`booking_changed` is sent INSIDE the transaction of the change, just before commit:
handlers add their rows (e.g. outbox messages) to `db.session` and never commit, so the
event and its consequences are saved together or not at all.
kwargs: booking, old (BookingStatus | None for a new proposal), new, actor_id, reason.
"""
from blinker import Namespace

_signals = Namespace()
booking_changed = _signals.signal("booking-changed")
