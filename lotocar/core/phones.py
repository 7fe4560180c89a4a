"""Phone numbers: parsed with `phonenumbers`, stored in E.164."""
from __future__ import annotations

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberType


class PhoneError(ValueError):
    """Carries a French message for the person who typed the number."""


def parse_phone(raw: str, *, mobile_only: bool) -> tuple[str, bool]:
    """(E.164, is_mobile) for a French number as people write it ('06 12 34 56 78')."""
    text = (raw or "").strip()
    if not text:
        raise PhoneError("Indiquez un numéro de téléphone.")
    if len(text) > 30:
        raise PhoneError("Ce numéro est trop long.")
    try:
        number = phonenumbers.parse(text, "FR")
    except NumberParseException as exc:
        raise PhoneError("Ce numéro de téléphone n'est pas reconnu.") from exc
    if not phonenumbers.is_valid_number(number):
        raise PhoneError("Ce numéro de téléphone n'est pas valide.")
    kind = phonenumbers.number_type(number)
    is_mobile = kind in (PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE)
    if mobile_only:
        if number.country_code != 33:
            raise PhoneError("Indiquez un numéro de portable français (06 ou 07).")
        if not is_mobile:
            raise PhoneError("Indiquez un numéro de portable (06 ou 07) : il doit pouvoir recevoir des SMS.")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), is_mobile


def format_phone(e164: str | None) -> str:
    """'+33612345678' → '06 12 34 56 78' for display."""
    if not e164:
        return ""
    try:
        number = phonenumbers.parse(e164, None)
    except NumberParseException:
        return e164
    if number.country_code == 33:
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
