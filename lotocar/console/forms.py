from __future__ import annotations

import math

from wtforms import (BooleanField, DateField, IntegerField, RadioField, SelectField, StringField,
                     TextAreaField, TimeField)
from wtforms.validators import Length, NumberRange, Optional

from lotocar.communes.forms import CommuneField
from lotocar.core.forms import BaseForm, strip_filter
from lotocar.core.needs import NEEDS
from lotocar.drivers.forms import AcceptsForm
from lotocar.requests.models import RequestReason
from lotocar.requests.operations import MAX_SEATS, REASONS_FR, UNMET_REASONS_FR


class SearchForm(BaseForm):
    class Meta:
        csrf = False
        locales = ["fr_FR", "fr"]

    q = StringField("Téléphone ou nom du passager", filters=[strip_filter],
                    validators=[Optional(), Length(max=80)],
                    render_kw={"autofocus": True, "autocomplete": "off", "inputmode": "search"})


class NeedsFieldsMixin:
    """The accessibility needs as four checkboxes `need_<code>` (lotocar.core.needs)."""

    need_wheelchair = BooleanField(NEEDS["wheelchair"][0])
    need_boarding_help = BooleanField(NEEDS["boarding_help"][0])
    need_assistance_dog = BooleanField(NEEDS["assistance_dog"][0])
    need_front_seat = BooleanField(NEEDS["front_seat"][0])

    def need_fields(self):
        return [getattr(self, f"need_{code}") for code in NEEDS]

    def needs_flags(self) -> frozenset[str]:
        return frozenset(code for code in NEEDS if getattr(self, f"need_{code}").data)

    def set_needs(self, codes) -> None:
        for code in NEEDS:
            getattr(self, f"need_{code}").data = code in codes


class PassengerForm(NeedsFieldsMixin, BaseForm):
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


def parse_coordinate(raw: str | None) -> float | None:
    """A latitude / longitude as typed ("44,4475" or "44.4475"); ValueError when not a number."""
    text = (raw or "").strip().replace(",", ".").replace("\u00a0", "").replace(" ", "")
    if not text:
        return None
    value = float(text)
    if not math.isfinite(value):  # "nan", "inf"
        raise ValueError(text)
    return value


class PassengerEditForm(PassengerForm):
    """An operator corrects a passenger's record (issue #14): the registration fields plus
    where she is met when leaving from home."""

    pickup_place = StringField("Adresse ou repère (facultatif)", filters=[strip_filter],
                               validators=[Optional(), Length(max=200, message="200 caractères au plus.")],
                               description="Par défaut : la mairie. Ex. : 12 rue des Tilleuls, devant la maison.")
    pickup_lat = StringField("Latitude du point (facultatif)", filters=[strip_filter],
                             render_kw={"inputmode": "decimal", "autocomplete": "off"},
                             description="Ex. : 44,4475 — ou cliquez sur la carte.")
    pickup_lon = StringField("Longitude du point (facultatif)", filters=[strip_filter],
                             render_kw={"inputmode": "decimal", "autocomplete": "off"},
                             description="Ex. : 1,4403")

    def pickup_point(self, errors: dict[str, str]) -> tuple[float | None, float | None]:
        try:
            lat = parse_coordinate(self.pickup_lat.data)
        except ValueError:
            errors["pickup_lat"] = "La latitude doit être un nombre, par exemple 44,4475."
            lat = None
        try:
            lon = parse_coordinate(self.pickup_lon.data)
        except ValueError:
            errors["pickup_lon"] = "La longitude doit être un nombre, par exemple 1,4403."
            lon = None
        return lat, lon


class DriverRecordForm(AcceptsForm):
    """Staff correct a driver's record and say what he and his car accept (issue #14)."""

    first_name = StringField("Prénom", filters=[strip_filter], render_kw={"autocomplete": "off"})
    last_name = StringField("Nom", filters=[strip_filter], render_kw={"autocomplete": "off"})
    phone = StringField("Téléphone portable", filters=[strip_filter],
                        render_kw={"inputmode": "tel", "autocomplete": "off"})
    home = CommuneField("Commune du domicile", lot_only=True)


class CallConsentForm(BaseForm):
    call_consent = BooleanField("Accepte les appels vocaux automatiques (accord recueilli au téléphone)")
    prefers_calls = BooleanField("Préfère les appels aux SMS")


class NotesForm(BaseForm):
    needs = TextAreaField("Besoins particuliers", filters=[strip_filter],
                          validators=[Optional(), Length(max=2000, message="2000 caractères au plus.")])
    notes = TextAreaField("Notes", filters=[strip_filter],
                          validators=[Optional(), Length(max=2000, message="2000 caractères au plus.")])


RETURN_MODES = [("leave_after", "Partir après"), ("appointment_end", "Quand le rendez-vous finit, vers"),
                ("arrive_by", "Arriver au plus tard à")]


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
    seats = IntegerField("Places", default=1,
                         validators=[Optional(), NumberRange(1, MAX_SEATS, message=f"De 1 à {MAX_SEATS} places.")],
                         description="Passager et accompagnants.")
    reason = SelectField("Motif", default=RequestReason.MEDICAL.value,
                         choices=[(r.value, label) for r, label in REASONS_FR.items()])
    return_wanted = BooleanField("Retour souhaité")
    return_mode = RadioField("Horaire du retour", default="leave_after", choices=RETURN_MODES)
    return_at = TimeField("Heure du retour", validators=[Optional()])
    return_day = DateField("Date du retour, si autre jour", validators=[Optional()])
    notes = TextAreaField("Notes (facultatif)", filters=[strip_filter],
                          validators=[Optional(), Length(max=2000, message="2000 caractères au plus.")])

    def wants_return(self) -> bool:
        """A return time typed means a return is wanted (no box to tick on the phone)."""
        return bool(self.return_wanted.data) or self.return_at.data is not None

    def return_input_mode(self) -> str:
        """"When the appointment ends, about HH:MM" is "leave after HH:MM"."""
        return "leave_after" if self.return_mode.data == "appointment_end" else (self.return_mode.data or "")

    def add_errors(self, errors: dict[str, str]) -> None:
        for name, message in errors.items():
            field = getattr(self, {"origin_lat": "origin", "destination_lat": "destination"}.get(name, name), None)
            if field is not None and message not in field.errors:
                field.errors = list(field.errors) + [message]


class RequestEditForm(RequestForm):
    """Editing a request: the same fields without the return (edit the return on its own page)."""

    destination = CommuneField("Destination (commune)")
    at = TimeField("Heure", validators=[Optional()], render_kw={"autofocus": True})  # most edits are the time
    return_wanted = return_mode = return_at = return_day = None


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
