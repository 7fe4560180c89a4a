"""Signals other features subscribe to.

One rule for signals: they fire INSIDE the transaction of the change, and their handlers
only add to the session (never commit); the edge commits the change and its consequences
together. Work that must follow the commit registers an after-commit hook (core.tx).
"""
from blinker import Namespace

_signals = Namespace()

# sent after a trip was created, changed, paused, resumed or cancelled (flushed, not yet
# committed); sender = the Flask app, kwargs: offer, action
offer_saved = _signals.signal("offer-saved")
