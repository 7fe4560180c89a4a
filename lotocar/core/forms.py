"""Form building blocks shared by the features (French messages)."""
from __future__ import annotations

from flask_wtf import FlaskForm

REQUIRED = "Ce champ est obligatoire."


def strip_filter(value):
    return value.strip() if isinstance(value, str) else value


class BaseForm(FlaskForm):
    """Forms with WTForms' built-in French messages ("N'est pas une date valide.")."""

    class Meta:
        locales = ["fr_FR", "fr"]
