from __future__ import annotations

from datetime import time

from wtforms import (BooleanField, DateField, IntegerField, RadioField, SelectField, StringField,
                     TextAreaField, TimeField)
from wtforms.validators import Length, NumberRange, Optional

from lotocar.communes.forms import CommuneField
from lotocar.core.forms import BaseForm, strip_filter
from lotocar.requests.models import RequestReason
from lotocar.requests.operations import REASONS_FR, UNMET_REASONS_FR


class SearchForm(BaseForm):
    class Meta:
        csrf = False
        locales = ["fr_FR", "fr"]

    q = StringField("Téléphone ou nom du passager", filters=[strip_filter],
                    validators=[Optional(), Length(max=80)],
                    render_kw={"autofocus": True, "autocomplete": "off", "inputmode": "search"})


class PassengerForm(BaseForm):
    phone = StringField("Téléphone (portable ou fixe)", filters=[strip_filter],
                        render_kw={"inputmode": "tel", "autocomplete": "off"})
    first_name = StringField("Prénom", filters=[strip_filter], render_kw={"autocomplete": "off"})
    last_name = StringField("Nom", filters=[strip_filter], render_kw={"autocomplete": "off"})
    home = CommuneField("Commune du domicile", lot_only=True)
    has_no_car = BooleanField("La personne confirme ne pas avoir de voiture")
    sms_consent = BooleanField("Accepte de recevoir des SMS (accord recueilli au téléphone)")
    call_consent = BooleanField("Accepte d'être appelé·e par un message vocal automatique (accord recueilli au téléphone)",
                                description="Pour les fixes : confirmation, rappel de la veille, changements.")
    prefers_calls = BooleanField("Préfère les appels aux SMS")
    needs = TextAreaField("Besoins particuliers (facultatif)", filters=[strip_filter],
                          validators=[Optional(), Length(max=2000, message="2000 caractères au plus.")],
                          description="Ex. : aide pour monter en voiture, fauteuil pliant.")
    notes = TextAreaField("Notes (facultatif)", filters=[strip_filter],
                          validators=[Optional(), Length(max=2000, message="2000 caractères au plus.")])


class CallConsentForm(BaseForm):
    call_consent = BooleanField("Accepte les appels vocaux automatiques (accord recueilli au téléphone)")
    prefers_calls = BooleanField("Préfère les appels aux SMS")


class NotesForm(BaseForm):
    needs = TextAreaField("Besoins particuliers", filters=[strip_filter],
                          validators=[Optional(), Length(max=2000, message="2000 caractères au plus.")])
    notes = TextAreaField("Notes", filters=[strip_filter],
                          validators=[Optional(), Length(max=2000, message="2000 caractères au plus.")])


class RequestForm(BaseForm):
    origin = CommuneField("Départ (commune)")
    origin_place = StringField("Lieu précis du départ (facultatif)", filters=[strip_filter],
                               validators=[Optional(), Length(max=200, message="200 caractères au plus.")])
    destination = CommuneField("Destination (commune)", render_kw={"autofocus": True})
    destination_place = StringField("Lieu précis d'arrivée (facultatif)", filters=[strip_filter],
                                    validators=[Optional(), Length(max=200, message="200 caractères au plus.")],
                                    description="Ex. : centre hospitalier, Pôle emploi.")
    mode = RadioField("Horaire", default="arrive_by", choices=[
        ("arrive_by", "Arriver au plus tard à (rendez-vous)"), ("leave_after", "Partir après")])
    day = DateField("Date", validators=[Optional()])
    at = TimeField("Heure", validators=[Optional()])
    flexibility_min = IntegerField("Souplesse (minutes)", default=30,
                                   validators=[Optional(), NumberRange(0, 240, message="La souplesse va de 0 à 240 minutes.")],
                                   description="Ex. : 30 = arrivée entre 30 min avant et l'heure dite.")
    reason = SelectField("Motif", default=RequestReason.MEDICAL.value,
                         choices=[(r.value, label) for r, label in REASONS_FR.items()])
    return_wanted = BooleanField("Retour souhaité le même jour")
    return_mode = RadioField("Horaire du retour", default="leave_after", choices=[
        ("leave_after", "Partir après"), ("arrive_by", "Arriver au plus tard à")])
    return_at = TimeField("Heure du retour", validators=[Optional()])
    notes = TextAreaField("Notes (facultatif)", filters=[strip_filter],
                          validators=[Optional(), Length(max=2000, message="2000 caractères au plus.")])

    def add_errors(self, errors: dict[str, str]) -> None:
        for name, message in errors.items():
            field = getattr(self, {"origin_lat": "origin", "destination_lat": "destination"}.get(name, name), None)
            if field is not None and message not in field.errors:
                field.errors = list(field.errors) + [message]


class CallRequestForm(RequestForm):
    """The request part of the "new passenger" form (the passenger form carries the CSRF)."""

    class Meta:
        csrf = False
        locales = ["fr_FR", "fr"]

    origin = CommuneField("Départ, si ce n'est pas le domicile (facultatif)", required=False)
    destination = CommuneField("Destination (commune)")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, prefix="d", **kwargs)


class UnmetForm(BaseForm):
    reason = SelectField("Raison", choices=[(r, r) for r in UNMET_REASONS_FR])
    detail = StringField("Précision (facultatif)", filters=[strip_filter],
                         validators=[Optional(), Length(max=150)])


class ActionForm(BaseForm):
    """CSRF-protected action button with an optional reason."""
    reason = StringField("Motif (facultatif)", filters=[strip_filter], validators=[Optional(), Length(max=250)])
