"""Form building blocks shared by the features (French messages)."""
from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import ValidationError

from lotocar.communes import operations as communes

REQUIRED = "Ce champ est obligatoire."


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


def strip_filter(value):
    return value.strip() if isinstance(value, str) else value


class BaseForm(FlaskForm):
    """Forms with WTForms' built-in French messages ("N'est pas une date valide.")."""

    class Meta:
        locales = ["fr_FR", "fr"]
