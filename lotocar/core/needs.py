"""Accessibility needs as data: what a passenger needs, what a driver (and his car) accepts.

Stored on both sides as a small flags string ("assistance_dog,front_seat"); the matcher
only proposes drivers whose accepts cover all the passenger's needs."""
from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

# code -> (the passenger's need, as a badge; why a driver who does not accept it is left out)
NEEDS: dict[str, tuple[str, str]] = {
    "wheelchair": ("Fauteuil roulant pliant (dans le coffre)", "n'accepte pas de fauteuil roulant pliant"),
    "boarding_help": ("Aide pour monter en voiture", "ne peut pas aider à monter en voiture"),
    "assistance_dog": ("Chien guide ou d'assistance", "n'accepte pas de chien d'assistance"),
    "front_seat": ("Place à l'avant", "n'a pas de place à l'avant libre"),
}
# what a driver ticks on his record: the same four, in his words
ACCEPTS_FR: dict[str, str] = {
    "wheelchair": "Un fauteuil roulant pliant dans le coffre",
    "boarding_help": "Aider à monter en voiture",
    "assistance_dog": "Un chien guide ou d'assistance",
    "front_seat": "Laisser la place à l'avant",
}


@lru_cache(maxsize=256)
def parse(flags: str | None) -> frozenset[str]:
    """The known codes of a stored flags string (unknown ones are ignored). Memoised: one
    shared set per flags string, not one per trip of the matching index."""
    return frozenset(f for f in (flags or "").split(",") if f in NEEDS)


def dump(codes: Iterable[str]) -> str | None:
    """The stored form: known codes, sorted, comma-separated; None when empty."""
    known = sorted(set(codes) & NEEDS.keys())
    return ",".join(known) or None


def labels(codes: Iterable[str]) -> list[str]:
    """Badge labels in the fixed order of NEEDS."""
    codes = set(codes)
    return [label for code, (label, _why) in NEEDS.items() if code in codes]


def refusal(missing: Iterable[str]) -> str:
    """Why a driver was left out: "n'accepte pas de chien d'assistance, …"."""
    missing = set(missing)
    return ", ".join(why for code, (_label, why) in NEEDS.items() if code in missing)
