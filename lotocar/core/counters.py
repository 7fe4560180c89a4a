from __future__ import annotations

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from lotocar.extensions import db


class ChangeCounter(db.Model):
    """A counter bumped in the same transaction as every change to a kind of data.

    Each process keeps its matching index in memory; before a query it compares the
    counter with the value its index was built at, so a trip written by another process
    (another gunicorn worker, a `flask` command) is never missed.
    """

    __tablename__ = "change_counters"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[int] = mapped_column(Integer, default=0)


def bump(name: str) -> None:
    """Increment counter `name` inside the current transaction (atomic on both databases)."""
    updated = db.session.execute(
        db.update(ChangeCounter).where(ChangeCounter.name == name)
        .values(value=ChangeCounter.value + 1)
    ).rowcount
    if not updated:
        db.session.add(ChangeCounter(name=name, value=1))
        db.session.flush()


def read(name: str) -> int:
    return db.session.scalar(db.select(ChangeCounter.value).where(ChangeCounter.name == name)) or 0
