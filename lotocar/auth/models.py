from __future__ import annotations

import enum
import secrets
from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import Boolean, Enum, ForeignKey, Index, Integer, String, event
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lotocar.core.timeutil import utcnow
from lotocar.core.types import UTCDateTime
from lotocar.extensions import db


class Role(str, enum.Enum):
    DRIVER = "driver"
    OPERATOR = "operator"
    ADMIN = "admin"


class User(UserMixin, db.Model):
    """A person who logs in: drivers (phone + SMS code), operators and admins (email + password)."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    role: Mapped[Role] = mapped_column(
        Enum(Role, name="user_role", native_enum=False, length=20,
             values_callable=lambda e: [m.value for m in e])
    )
    first_name: Mapped[str] = mapped_column(String(80))
    last_name: Mapped[str] = mapped_column(String(80))
    phone: Mapped[str | None] = mapped_column(String(20), unique=True, nullable=True)
    phone_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    email: Mapped[str | None] = mapped_column(String(254), unique=True, nullable=True)
    password_hash: Mapped[str | None] = mapped_column(String(255), nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    anonymised_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Part of the session id and of the "remember me" cookie: a new one (logout, "log out
    # everywhere", a role change) ends every session and cookie issued before.
    session_token: Mapped[str | None] = mapped_column(String(64), nullable=True,
                                                      default=lambda: new_session_token())

    driver: Mapped["Driver | None"] = relationship(back_populates="user", uselist=False)  # noqa: F821

    @property
    def is_active(self) -> bool:  # Flask-Login
        return self.active

    def get_id(self) -> str:  # Flask-Login: what the session and the remember cookie hold
        if not self.session_token:
            self.session_token = new_session_token()
        return f"{self.id}:{self.session_token}"

    def rotate_session_token(self) -> None:
        self.session_token = new_session_token()

    @property
    def display_name(self) -> str:
        return f"{self.first_name} {self.last_name}"

    def has_role(self, *roles: Role) -> bool:
        return self.role in roles


def new_session_token() -> str:
    return secrets.token_urlsafe(32)


@event.listens_for(User.role, "set")
def _role_changed(target: User, value, oldvalue, initiator) -> None:
    """A new role ends the sessions opened under the old one."""
    if oldvalue is not None and oldvalue in list(Role) and value != oldvalue:
        target.session_token = new_session_token()


class PhoneCode(db.Model):
    """A one-time code sent by SMS to verify a phone or to log in. Only its hash is kept."""

    __tablename__ = "phone_codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    phone: Mapped[str] = mapped_column(String(20))
    purpose: Mapped[str] = mapped_column(String(20))  # "verify" | "login"
    code_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)

    __table_args__ = (Index("ix_phone_codes_phone_created", "phone", "created_at"),)
