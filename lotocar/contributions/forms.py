from __future__ import annotations

from wtforms import BooleanField, RadioField, StringField
from wtforms.validators import DataRequired, Length, Optional

from lotocar.contributions.operations import MODE_LABELS_FR
from lotocar.core.forms import BaseForm, strip_filter


class DriverModeForm(BaseForm):
    mode = RadioField("Participation aux frais", choices=list(MODE_LABELS_FR.items()),
                      validators=[DataRequired("Choisissez « Gratuit » ou « Participation suggérée ».")])


class ExemptionForm(BaseForm):
    exempt = BooleanField("Exonéré·e de participation")
    reason = StringField("Motif", filters=[strip_filter], validators=[Optional(), Length(max=300)])
