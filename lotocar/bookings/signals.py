"""Booking events for other features (SMS notifications subscribe here).

Both are sent INSIDE the transaction of the change: handlers add their rows (e.g. outbox
messages) to `db.session` and never commit, so the event and its consequences are saved
together or not at all.

- `booking_changed`: kwargs booking, old (BookingStatus | None for a new proposal), new,
  actor_id, reason.
- `promise_changed`: what the booking promises the passenger (pickup and drop-off place and
  time) changed; kwargs booking, old (Promise), new (Promise), cause (French text).
"""
from blinker import Namespace

_signals = Namespace()
booking_changed = _signals.signal("booking-changed")
promise_changed = _signals.signal("promise-changed")
