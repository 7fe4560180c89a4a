from __future__ import annotations

from sqlalchemy import Integer, String, event
from sqlalchemy.orm import Mapped, Session, mapped_column

from lotocar.extensions import db

_WRITTEN = "lotocar_counters_written"


class ChangeCounter(db.Model):
    """A counter bumped in the same transaction as every change to a kind of data.

    Each process keeps its matching index in memory; before a query it compares the
    counter with the value its index was built at, so a trip written by another process
    (another gunicorn worker, a `flask` command) is never missed.
    """

    __tablename__ = "change_counters"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[int] = mapped_column(Integer, default=0)


def bump(name: str) -> int:
    """Increment counter `name` inside the current transaction (atomic on both databases) and
    return its new value (the row stays locked by the UPDATE until the commit)."""
    mark_written(db.session, name)
    updated = db.session.execute(
        db.update(ChangeCounter).where(ChangeCounter.name == name)
        .values(value=ChangeCounter.value + 1)
    ).rowcount
    if not updated:
        db.session.add(ChangeCounter(name=name, value=1))
        db.session.flush()
    return read(name)


def bump_in_flush(session, name: str) -> None:
    """`bump` from a `before_flush` hook (no nested flush: a new row joins the running flush)."""
    mark_written(session, name)
    updated = session.execute(
        db.update(ChangeCounter).where(ChangeCounter.name == name)
        .values(value=ChangeCounter.value + 1)
    ).rowcount
    if not updated and not any(isinstance(o, ChangeCounter) and o.name == name for o in session.new):
        session.add(ChangeCounter(name=name, value=1))


def mark_written(session, name: str) -> None:
    """Remember that this transaction changed the data behind counter `name`: per-process
    caches must not be refreshed from a transaction that may still roll back."""
    session.info.setdefault(_WRITTEN, set()).add(name)


def written_here(name: str) -> bool:
    """Did the current (uncommitted) transaction change the data behind counter `name`?"""
    return name in db.session.info.get(_WRITTEN, ())


@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_rollback")
def _forget(session: Session) -> None:
    session.info.pop(_WRITTEN, None)


def read(name: str) -> int:
    return db.session.scalar(db.select(ChangeCounter.value).where(ChangeCounter.name == name)) or 0
