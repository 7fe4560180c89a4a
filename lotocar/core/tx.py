"""One transaction per action: operations add and flush, the edge commits once.

An edge is a view, an API handler, a CLI command or a worker tick. It runs the action with
`atomic(fn)`: everything the action causes (reconciliation, outbox rows, audit) is committed
together, or rolled back together when anything raises.

Work that must only follow a successful commit (e.g. the in-process matching index) is
registered with `after_commit(prepare)`: `prepare()` runs just before the commit, while the
session can still be read, and returns the callable run once the commit succeeded (nothing
runs after a rollback).
"""
from __future__ import annotations

from typing import Callable, TypeVar

from sqlalchemy import event
from sqlalchemy.orm import Session

from lotocar.extensions import db

T = TypeVar("T")
_KEY = "lotocar_after_commit"


def atomic(action: Callable[[], T]) -> T:
    """Run `action` and commit once; roll everything back if it (or the commit) raises."""
    try:
        result = action()
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    return result


def commit() -> None:
    db.session.commit()


def after_commit(prepare: Callable[[], Callable[[], None] | None]) -> None:
    """Run `prepare()` before the current transaction commits, and what it returns after."""
    db.session.info.setdefault(_KEY, []).append(prepare)


def lock(stmt):
    """`SELECT … FOR UPDATE` on PostgreSQL (rows of the action, held to its commit); SQLite
    serialises writers itself."""
    if db.engine.dialect.name == "postgresql":
        return stmt.with_for_update()
    return stmt


@event.listens_for(Session, "before_commit")
def _prepare(session: Session) -> None:
    pending = session.info.pop(_KEY, None)
    if pending:
        session.flush()
        ready = [fn for fn in (p() for p in pending) if fn is not None]
        session.info[_KEY + "_ready"] = ready


@event.listens_for(Session, "after_commit")
def _run(session: Session) -> None:
    for fn in session.info.pop(_KEY + "_ready", []):
        fn()


@event.listens_for(Session, "after_rollback")
def _drop(session: Session) -> None:
    session.info.pop(_KEY, None)
    session.info.pop(_KEY + "_ready", None)
