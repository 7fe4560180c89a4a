from __future__ import annotations

from wtforms import BooleanField, EmailField, PasswordField, RadioField, StringField
from wtforms.validators import DataRequired, Email, Length, Optional, ValidationError

from lotocar.communes.forms import CommuneField
from lotocar.core.forms import REQUIRED, BaseForm, strip_filter
from lotocar.core.phones import PhoneError, parse_phone


class MobilePhoneField(StringField):
    """A French mobile number; after validation `.e164` holds it normalised."""

    def __init__(self, label=None, validators=None, **kwargs):
        kwargs.setdefault("render_kw", {"autocomplete": "tel", "inputmode": "tel"})
        super().__init__(label, validators, **kwargs)
        self.e164 = None

    def pre_validate(self, form):
        self.e164 = None
        try:
            self.e164, _ = parse_phone(self.data or "", mobile_only=True)
        except PhoneError as exc:
            raise ValidationError(str(exc)) from exc


class SignupForm(BaseForm):
    first_name = StringField("Prénom", filters=[strip_filter],
                             validators=[DataRequired(REQUIRED), Length(max=80, message="80 caractères au plus.")],
                             render_kw={"autocomplete": "given-name"})
    last_name = StringField("Nom", filters=[strip_filter],
                            validators=[DataRequired(REQUIRED), Length(max=80, message="80 caractères au plus.")],
                            render_kw={"autocomplete": "family-name"})
    phone = MobilePhoneField("Téléphone portable")
    email = EmailField("Adresse e-mail (facultatif)", filters=[strip_filter],
                       validators=[Optional(), Length(max=254), Email("Adresse e-mail non valide.")],
                       render_kw={"autocomplete": "email"})
    home = CommuneField("Commune où vous habitez", lot_only=True)
    consent_contact = BooleanField(
        "J'accepte d'être contacté·e par l'équipe Lot'ôcar (téléphone et SMS) au sujet de mes trajets."
    )

    def validate_consent_contact(self, field):
        if not field.data:
            raise ValidationError("Votre accord est nécessaire pour que l'équipe puisse vous contacter.")


class CodeForm(BaseForm):
    code = StringField("Code reçu par SMS (6 chiffres)", filters=[strip_filter],
                       validators=[DataRequired(REQUIRED), Length(max=12)],
                       render_kw={"autocomplete": "one-time-code", "inputmode": "numeric"})


class PhoneLoginForm(BaseForm):
    phone = MobilePhoneField("Votre téléphone portable")


class StaffLoginForm(BaseForm):
    email = EmailField("Adresse e-mail", filters=[strip_filter],
                       validators=[DataRequired(REQUIRED), Length(max=254)],
                       render_kw={"autocomplete": "username"})
    password = PasswordField("Mot de passe", validators=[DataRequired(REQUIRED), Length(max=200)],
                             render_kw={"autocomplete": "current-password"})


class ConfirmDetailsForm(BaseForm):
    choice = RadioField("Quelles informations garder ?", choices=[
        ("team", "Celles que l'équipe a enregistrées"),
        ("typed", "Celles que je viens de saisir"),
    ], validators=[DataRequired("Choisissez les informations à garder.")])
