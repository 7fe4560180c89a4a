"""The `requests` change counter: bumped in the same transaction as any change to a request
(created, edited, status or flag moved, erased), so every process's cache of open requests
(drivers' pages, reverse matching) knows when to re-read them."""
from __future__ import annotations

from itertools import chain

from sqlalchemy import event
from sqlalchemy.orm import Session

from lotocar.core.counters import bump_in_flush
from lotocar.requests.models import TripRequest

COUNTER = "requests"


@event.listens_for(Session, "before_flush")
def _bump_on_request_change(session: Session, flush_context, instances) -> None:
    for obj in chain(session.new, session.deleted, session.dirty):
        if isinstance(obj, TripRequest) and (obj not in session.dirty or session.is_modified(obj)):
            bump_in_flush(session, COUNTER)
            return
