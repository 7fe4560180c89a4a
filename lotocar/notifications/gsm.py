"""GSM-7 normalisation and SMS segment counting.

A single character outside the GSM 03.38 alphabet switches the whole SMS to UCS-2 (70
characters, 67 per part instead of 160 / 153). French texts keep é è à ù É (they are GSM-7)
and lose what is not: ç â ê î ô û ë ï œ, typographic apostrophes and quotes, non-breaking
spaces, dashes.
"""
from __future__ import annotations

import math
import unicodedata
from dataclasses import dataclass

GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENDED = frozenset("^{}\\[~]|€\f")  # two septets each (escape + char)

_REPLACEMENTS = {
    "\u2019": "'", "\u2018": "'", "\u02bc": "'", "\u00b4": "'", "`": "'",
    "\u201c": '"', "\u201d": '"', "\u00ab": '"', "\u00bb": '"',
    "\u00a0": " ", "\u202f": " ", "\u2009": " ", "\u2007": " ", "\t": " ",
    "\u2013": "-", "\u2014": "-", "\u2010": "-", "\u2011": "-", "\u2212": "-",
    "\u2026": "...", "\u0153": "oe", "\u0152": "OE", "\u00b0": "o",
    "\u00e7": "c",  # ç (Ç is GSM-7)
}


def normalize(text: str) -> str:
    """The closest GSM-7 text; characters with no GSM-7 look-alike are kept (→ UCS-2)."""
    out: list[str] = []
    for ch in text:
        if ch in GSM_BASIC or ch in GSM_EXTENDED:
            out.append(ch)
            continue
        if ch in _REPLACEMENTS:
            out.append(_REPLACEMENTS[ch])
            continue
        base = "".join(c for c in unicodedata.normalize("NFD", ch) if not unicodedata.combining(c))
        if base and all(c in GSM_BASIC for c in base):
            out.append(base)
        else:
            out.append(ch)
    return "".join(out)


@dataclass(frozen=True)
class SegmentInfo:
    encoding: str  # "GSM-7" | "UCS-2"
    units: int     # septets (GSM-7) or UTF-16 code units (UCS-2)
    segments: int


def is_gsm7(text: str) -> bool:
    return all(ch in GSM_BASIC or ch in GSM_EXTENDED for ch in text)


def segments(text: str) -> SegmentInfo:
    if is_gsm7(text):
        units = sum(2 if ch in GSM_EXTENDED else 1 for ch in text)
        count = 1 if units <= 160 else math.ceil(units / 153)
        return SegmentInfo("GSM-7", units, count)
    units = len(text.encode("utf-16-le")) // 2
    count = 1 if units <= 70 else math.ceil(units / 67)
    return SegmentInfo("UCS-2", units, count)
