"""The place field of the forms: a commune of the Lot or around it, or a former commune."""
from __future__ import annotations

from wtforms import StringField
from wtforms.validators import ValidationError

from lotocar.communes import operations as communes
from lotocar.communes.search import CommuneEntry
from lotocar.core.forms import REQUIRED


def suggestion_view(entry: CommuneEntry) -> dict[str, str]:
    """What a suggestion button shows: its label, and where it is."""
    if entry.is_former:
        detail = f"ancienne commune, {entry.name}"
    elif entry.in_lot:
        detail = "Lot"
    else:
        detail = f"hors Lot ({entry.departement})"
    return {"label": entry.label, "detail": detail}


class CommuneField(StringField):
    """A place typed with autocomplete. After validation `.place` holds the Place (commune and
    optional former commune) and `.commune` the commune. `lot_only` (a passenger's or a
    driver's home) accepts only communes of the Lot. `.suggestions` holds the places offered
    when the text is ambiguous or misspelt (clickable under the field)."""

    def __init__(self, label=None, validators=None, required: bool = True, lot_only: bool = False,
                 **kwargs):
        self.required = required
        self.lot_only = lot_only
        render_kw = {"autocomplete": "off", "data-commune-autocomplete": "lot" if lot_only else "all",
                     "spellcheck": "false", "autocapitalize": "off"}
        render_kw.update(kwargs.pop("render_kw", {}) or {})
        super().__init__(label, validators, render_kw=render_kw, **kwargs)
        self.commune = None
        self.place = None
        self.suggestions: list[dict[str, str]] = []

    def pre_validate(self, form):
        self.commune = self.place = None
        self.suggestions = []
        text = (self.data or "").strip()
        if not text:
            if not self.required:
                return
            raise ValidationError(REQUIRED)
        if len(text) > 120:
            raise ValidationError("Nom de commune trop long.")
        place, suggestions = communes.resolve_place(text, lot_only=self.lot_only)
        if place is None:
            self.suggestions = [suggestion_view(e) for e in suggestions]
            if suggestions:
                raise ValidationError("Commune à préciser. Vouliez-vous dire : "
                                      + ", ".join(e.label for e in suggestions) + " ?")
            if self.lot_only:
                raise ValidationError("Aucune commune du Lot ne porte ce nom.")
            raise ValidationError("Aucune commune du Lot ni des environs ne porte ce nom.")
        self.place = place
        self.commune = place.commune

    def meeting_point(self, place: str | None, lat: float | None = None, lon: float | None = None
                      ) -> tuple[str | None, float | None, float | None]:
        """(place text, lat, lon) for the chosen place: a former commune's village point."""
        if self.place is None:
            return place, lat, lon
        return self.place.meeting_point(place, lat, lon)

    def set_commune(self, commune, former=None) -> None:
        self.place = communes.Place(commune, former) if commune is not None else None
        self.data = self.place.label() if self.place is not None else ""
        self.commune = commune
