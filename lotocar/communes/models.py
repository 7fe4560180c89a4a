from __future__ import annotations

from sqlalchemy import Float, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from lotocar.core.types import POINT
from lotocar.extensions import db


class Commune(db.Model):
    """A commune of the Lot; its town hall is the default meeting point."""

    __tablename__ = "communes"

    insee: Mapped[str] = mapped_column(String(5), primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    search_key: Mapped[str] = mapped_column(String(120), index=True)
    postcode: Mapped[str] = mapped_column(String(5))
    population: Mapped[int] = mapped_column(Integer)
    epci_siren: Mapped[str] = mapped_column(String(9), index=True)
    epci_name: Mapped[str] = mapped_column(String(160))
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    geom: Mapped[object] = mapped_column(POINT)

    __table_args__ = (Index("ix_communes_geom", "geom", postgresql_using="gist"),)

    def label(self) -> str:
        return f"{self.name} ({self.postcode})"

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"<Commune {self.insee} {self.name}>"
