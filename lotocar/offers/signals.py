"""Signals other features subscribe to (the matching index, later the booking queue)."""
from blinker import Namespace

_signals = Namespace()

# sent after a trip was created, changed, paused, resumed or cancelled and committed;
# sender = the Flask app, kwargs: offer, stamp (the new `offers` change counter)
offer_saved = _signals.signal("offer-saved")
