from __future__ import annotations

from datetime import date

from sqlalchemy import Date, Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lotocar.core.types import POINT
from lotocar.extensions import db

LOT = "46"

DEPARTEMENTS_FR = {
    "12": "Aveyron", "15": "Cantal", "19": "Corrèze", "24": "Dordogne", "31": "Haute-Garonne",
    "46": "Lot", "47": "Lot-et-Garonne", "82": "Tarn-et-Garonne",
}


class Commune(db.Model):
    """A commune of the Lot or around it; its town hall is the default meeting point."""

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
    # "46" for the Lot; the bordering départements (12, 15, 19, 24, 47, 82) and Toulouse (31)
    departement: Mapped[str] = mapped_column(String(3), index=True, server_default=LOT)

    former_communes: Mapped[list[FormerCommune]] = relationship(
        back_populates="commune", order_by="FormerCommune.name")

    __table_args__ = (Index("ix_communes_geom", "geom", postgresql_using="gist"),)

    @property
    def in_lot(self) -> bool:
        return self.departement == LOT

    @property
    def departement_name(self) -> str:
        return DEPARTEMENTS_FR.get(self.departement, self.departement)

    @property
    def display_name(self) -> str:
        """The name as shown in lists, maps and statistics: "Cahors", "Brive-la-Gaillarde (19)"."""
        return self.name if self.in_lot else f"{self.name} ({self.departement})"

    def label(self) -> str:
        """What the autocomplete writes in a field: "Cahors (46000)", "Brive-la-Gaillarde (19)"."""
        if self.in_lot:
            return f"{self.name} ({self.postcode})"
        return f"{self.name} ({self.departement})"

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"<Commune {self.insee} {self.name}>"


class FormerCommune(db.Model):
    """A former commune merged into a commune nouvelle: a place of it, with its village point.

    Choosing it keeps the current commune (statistics, territory) and uses this point as the
    meeting point, so a driver is sent to Vaillac, not to Cœur de Causse's town hall.
    """

    __tablename__ = "former_communes"

    former_insee: Mapped[str] = mapped_column(String(5), primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    commune_insee: Mapped[str] = mapped_column(ForeignKey("communes.insee"), index=True)
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    merged_on: Mapped[date] = mapped_column(Date)
    delegated: Mapped[bool] = mapped_column(default=True)  # commune déléguée in the COG

    commune: Mapped[Commune] = relationship(back_populates="former_communes")

    def label(self) -> str:
        return f"{self.commune.name} — {self.name}"

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"<FormerCommune {self.former_insee} {self.name} in {self.commune_insee}>"
