"""What a driver and his car accept (passengers' needs, issue #14), as he ticks it himself."""
from __future__ import annotations

from wtforms import BooleanField

from lotocar.core.forms import BaseForm
from lotocar.core.needs import ACCEPTS_FR, NEEDS


class AcceptsForm(BaseForm):
    accept_wheelchair = BooleanField(ACCEPTS_FR["wheelchair"])
    accept_boarding_help = BooleanField(ACCEPTS_FR["boarding_help"])
    accept_assistance_dog = BooleanField(ACCEPTS_FR["assistance_dog"])
    accept_front_seat = BooleanField(ACCEPTS_FR["front_seat"])

    def accept_fields(self):
        return [getattr(self, f"accept_{code}") for code in NEEDS]

    def accepts(self) -> frozenset[str]:
        return frozenset(code for code in NEEDS if getattr(self, f"accept_{code}").data)

    def set_accepts(self, codes) -> None:
        for code in NEEDS:
            getattr(self, f"accept_{code}").data = code in codes
