"""The commune field of every form (typed with autocomplete, resolved by the communes
lookup): part of the communes feature, above core."""
from __future__ import annotations

from wtforms import StringField
from wtforms.validators import ValidationError

from lotocar.communes import operations as communes
from lotocar.core.forms import REQUIRED


class CommuneField(StringField):
    """A commune typed with autocomplete; after validation `.commune` holds the Commune."""

    def __init__(self, label=None, validators=None, required: bool = True, **kwargs):
        self.required = required
        render_kw = {"list": "communes-list", "autocomplete": "off",
                     "data-commune-autocomplete": "1", "spellcheck": "false"}
        render_kw.update(kwargs.pop("render_kw", {}) or {})
        super().__init__(label, validators, render_kw=render_kw, **kwargs)
        self.commune = None

    def pre_validate(self, form):
        self.commune = None
        text = (self.data or "").strip()
        if not text:
            if not self.required:
                return
            raise ValidationError(REQUIRED)
        if len(text) > 120:
            raise ValidationError("Nom de commune trop long.")
        commune, suggestions = communes.resolve_commune(text)
        if commune is None:
            if suggestions:
                raise ValidationError("Commune à préciser. Vouliez-vous dire : "
                                      + ", ".join(suggestions) + " ?")
            raise ValidationError("Aucune commune du Lot ne porte ce nom.")
        self.commune = commune

    def set_commune(self, commune) -> None:
        self.data = commune.label() if commune is not None else ""
        self.commune = commune
