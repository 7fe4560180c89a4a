from __future__ import annotations

from wtforms import (DateField, DecimalField, IntegerField, RadioField, SelectMultipleField,
                     StringField, TextAreaField, TimeField, widgets)
from wtforms.validators import Length, NumberRange, Optional, ValidationError

from lotocar.communes.forms import CommuneField
from lotocar.communes.operations import former_at
from lotocar.core.forms import BaseForm, strip_filter
from lotocar.core.timeutil import WEEKDAY_NAMES_FR
from lotocar.offers.operations import place_input
from lotocar.offers.rules import OfferInput


class MultiCheckboxField(SelectMultipleField):
    widget = widgets.ListWidget(prefix_label=False)
    option_widget = widgets.CheckboxInput()


class CoordinateField(DecimalField):
    """Degrees: a finite number. Decimal also reads "NaN", "sNaN" and "Infinity", which the
    range check cannot compare (a signalling NaN even raises): refused here, in French."""

    def process_formdata(self, valuelist):
        super().process_formdata(valuelist)
        if self.data is not None and not self.data.is_finite():
            self.data = None
            raise ValueError("Nombre attendu, en degrés décimaux (ex. : 44.4465).")


def _coord(label: str, low: float, high: float) -> DecimalField:
    return CoordinateField(label, places=6, validators=[
        Optional(), NumberRange(low, high, message=f"Valeur entre {low} et {high}.")],
        render_kw={"inputmode": "decimal"})


class OfferForm(BaseForm):
    kind = RadioField("Type de trajet", default="regular", choices=[
        ("regular", "Régulier (certains jours de la semaine)"),
        ("one_off", "Ponctuel (une seule date)"),
    ], validate_choice=True)
    origin = CommuneField("Commune de départ")
    origin_place = StringField("Lieu de rendez-vous au départ (facultatif)", filters=[strip_filter],
                               validators=[Optional(), Length(max=200, message="200 caractères au plus.")],
                               description="Par défaut : la mairie. Ex. : parking de la poste.")
    origin_lat = _coord("Latitude du lieu de départ (facultatif)", -90, 90)
    origin_lon = _coord("Longitude du lieu de départ (facultatif)", -180, 180)
    destination = CommuneField("Commune d'arrivée")
    destination_place = StringField("Lieu d'arrivée (facultatif)", filters=[strip_filter],
                                    validators=[Optional(), Length(max=200, message="200 caractères au plus.")],
                                    description="Par défaut : la mairie. Ex. : hôpital de Cahors.")
    destination_lat = _coord("Latitude du lieu d'arrivée (facultatif)", -90, 90)
    destination_lon = _coord("Longitude du lieu d'arrivée (facultatif)", -180, 180)
    departure_date = DateField("Date du trajet", validators=[Optional()])
    departure_time = TimeField("Heure de départ", validators=[Optional()])
    weekdays = MultiCheckboxField("Jours du trajet", coerce=int, validate_choice=False,
                                  choices=[(i + 1, name.capitalize()) for i, name in enumerate(WEEKDAY_NAMES_FR)])
    first_date = DateField("Premier trajet le", validators=[Optional()])
    last_date = DateField("Dernier trajet le", validators=[Optional()])
    seats = IntegerField("Places libres", default=3,
                         validators=[Optional(), NumberRange(1, 8, message="Entre 1 et 8 places.")])
    max_detour_min = IntegerField("Détour accepté (minutes)", default=10,
                                  validators=[Optional(), NumberRange(0, 60, message="Le détour accepté va de 0 à 60 minutes.")],
                                  description="Combien de minutes de plus vous acceptez pour aller chercher ou déposer un passager.")
    remark = TextAreaField("Remarque (facultatif)", filters=[strip_filter],
                           validators=[Optional(), Length(max=1000, message="1000 caractères au plus.")],
                           description="Ex. : je peux attendre la fin d'un rendez-vous.")

    def validate(self, extra_validators=None) -> bool:
        """Field errors of the other kind's (hidden, maybe stale) fields are dropped."""
        ok = super().validate(extra_validators)
        if ok:
            return True
        ignored = (("weekdays", "first_date", "last_date") if self.kind.data == "one_off"
                   else ("departure_date",) if self.kind.data == "regular" else ())
        for name in ignored:
            getattr(self, name).errors = []
        return not any(field.errors for field in self)

    def validate_weekdays(self, field):
        if any(not isinstance(d, int) or not 1 <= d <= 7 for d in field.data or []):
            raise ValidationError("Jour de la semaine inconnu.")  # WTForms 3 lets a ValueError through

    def to_input(self) -> OfferInput:
        def f(value):
            return float(value) if value is not None else None

        one_off = self.kind.data == "one_off"
        return OfferInput(
            kind=self.kind.data,
            origin=place_input(self.origin.commune, *self.origin.meeting_point(
                self.origin_place.data, f(self.origin_lat.data), f(self.origin_lon.data))),
            destination=place_input(self.destination.commune, *self.destination.meeting_point(
                self.destination_place.data, f(self.destination_lat.data), f(self.destination_lon.data))),
            seats=self.seats.data, max_detour_min=self.max_detour_min.data,
            departure_time=self.departure_time.data, remark=self.remark.data,
            # only the fields of the submitted kind: the other kind's fields may be hidden
            # and stale (browser Back), never saved nor checked
            **({"departure_date": self.departure_date.data} if one_off else {
                "weekdays": frozenset(self.weekdays.data or []),
                "first_date": self.first_date.data, "last_date": self.last_date.data}),
        )

    def add_errors(self, errors: dict[str, str]) -> None:
        for name, message in errors.items():
            field = getattr(self, name, None)
            if field is None:
                field = self.kind
            if message not in field.errors:
                field.errors = list(field.errors) + [message]

    def fill_from(self, offer) -> None:
        self.kind.data = offer.kind.value
        for prefix in ("origin", "destination"):
            commune = getattr(offer, prefix)
            place, lat, lon = (getattr(offer, f"{prefix}_{k}") for k in ("place", "lat", "lon"))
            former = former_at(commune, place, lat, lon)  # "Cœur de Causse — Vaillac"
            getattr(self, prefix).set_commune(commune, former)
            if former is not None:
                place = lat = lon = None  # the field gives them back
            getattr(self, f"{prefix}_place").data = place
            getattr(self, f"{prefix}_lat").data = lat
            getattr(self, f"{prefix}_lon").data = lon
        self.departure_time.data = offer.local_time
        if offer.is_regular:
            self.weekdays.data = sorted(offer.weekday_set)
            self.first_date.data = offer.first_date
            self.last_date.data = offer.last_date
        else:
            self.departure_date.data = offer.first_date
        self.seats.data = offer.seats
        self.max_detour_min.data = offer.max_detour_min
        self.remark.data = offer.remark


class StatusForm(BaseForm):
    """CSRF-protected button for pause / resume / cancel."""
