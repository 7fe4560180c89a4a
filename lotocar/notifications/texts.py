"""The SMS texts, in French, short: date, time, meeting point, the other person's first name
and the service's phone number. Rendered texts are normalised to GSM-7 (see `gsm`), and the
tests print each template's segment count with long commune and place names.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from lotocar.core.timeutil import MONTH_NAMES_FR, WEEKDAY_NAMES_FR, format_time_fr
from lotocar.notifications.gsm import normalize

# (kind, recipient) → template. Fields: see `TripFacts.fields()`.
TEMPLATES: dict[tuple[str, str], str] = {
    ("proposal", "driver"):
        "Lot'ôcar : pouvez-vous prendre {passenger} à {where} {day} à {time} (vers {destination}) ?{tour} "
        "Répondez ici : {link} ou appelez le {operator}.",
    ("proposal_2way", "driver"):
        "Lot'ôcar : pouvez-vous prendre {passenger} à {where} {day} à {time} (vers {destination}) ?{tour} "
        "Répondez OUI ou NON, ou ici : {link} Équipe : {operator}",
    ("accepted", "driver"):
        "Lot'ôcar : merci {driver} ! Nous prévenons {passenger} et vous confirmons le trajet "
        "du {day}. Équipe : {operator}",
    ("declined", "driver"):
        "Lot'ôcar : c'est noté, merci {driver}. Nous cherchons un autre conducteur pour {passenger}. "
        "Équipe : {operator}",
    ("confirmed", "passenger"):
        "Lot'ôcar : trajet confirmé {day} à {time}. {driver} vous prend à {where} (vers {destination}). "
        "{contribution} Un empêchement ? Appelez le {operator}",
    ("confirmed", "driver"):
        "Lot'ôcar : c'est confirmé, {passenger} vous attend {day} à {time} à {where}.{tour} "
        "Un empêchement ? Appelez le {operator}",
    ("reminder_eve", "passenger"):
        "Lot'ôcar : rappel, demain {day} à {time}, {driver} vous prend à {where}. "
        "Empêchement : {operator}",
    ("reminder_eve", "driver"):
        "Lot'ôcar : rappel, demain {day} à {time}, {passenger} vous attend à {where}.{tour} "
        "Empêchement : {operator}",
    ("reminder_soon", "passenger"):
        "Lot'ôcar : {driver} passe vous prendre à {time} à {where}. Empêchement : {operator}",
    ("reminder_soon", "driver"):
        "Lot'ôcar : {passenger} vous attend à {time} à {where}. Empêchement : {operator}",
    ("changed", "passenger"):
        "Lot'ôcar : nouvel horaire ! {driver} vous prend {day} à {time} à {where} "
        "(au lieu de {old_time}). Empêchement : {operator}",
    ("changed", "driver"):
        "Lot'ôcar : nouvel horaire, {passenger} vous attend {day} à {time} à {where} "
        "(au lieu de {old_time}).{tour} Empêchement : {operator}",
    ("cancelled", "passenger"):
        "Lot'ôcar : votre trajet {day} à {time} au départ de {commune} est annulé. "
        "L'équipe vous rappelle si besoin : {operator}",
    ("cancelled_by_driver", "passenger"):
        "Lot'ôcar : {driver} ne peut plus vous prendre à {commune} {day} à {time}. Nous cherchons "
        "une autre solution et vous rappelons : {operator}",
    ("cancelled", "driver"):
        "Lot'ôcar : le trajet avec {passenger} {day} à {time} au départ de {commune} est annulé. "
        "Merci ! Questions : {operator}",
}

# replies to received SMS (no trip facts)
REPLIES: dict[str, str] = {
    "opt_out": "Lot'ôcar : vous ne recevrez plus nos SMS. Pour les réactiver, répondez START. "
               "Équipe : {operator}",
    "opt_in": "Lot'ôcar : vous recevrez de nouveau nos SMS. Pour les arrêter, répondez STOP.",
    "help": "Lot'ôcar, covoiturage solidaire du Lot : appelez l'équipe au {operator}. "
            "Pour ne plus recevoir de SMS, répondez STOP.",
    "accept": "Lot'ôcar : merci, c'est noté !",
    "decline": "Lot'ôcar : c'est noté, merci.",
    "nothing_open": "Lot'ôcar : aucune demande n'attend votre réponse. Équipe : {operator}",
    "error": "Lot'ôcar : {message} Équipe : {operator}",
    "other": "Lot'ôcar : message reçu. Pour nous joindre, appelez le {operator}.",
}

KIND_LABELS_FR = {
    "proposal": "Demande au conducteur",
    "accepted": "Remerciement (acceptation)",
    "declined": "Remerciement (refus)",
    "confirmed": "Confirmation",
    "reminder_eve": "Rappel de la veille",
    "reminder_soon": "Rappel avant le départ",
    "changed": "Changement d'horaire",
    "cancelled": "Annulation",
    "trip_by_team": "Trajet changé par l'équipe pour le conducteur",
    "reply": "Réponse à un SMS reçu",
    "code_verify": "Code de vérification",
    "code_login": "Code de connexion",
    "test": "Essai",
}


def day_fr(local: datetime) -> str:
    """'mardi 3 mars' (the SMS is about the next days: no year)."""
    return f"{WEEKDAY_NAMES_FR[local.weekday()]} {local.day} {MONTH_NAMES_FR[local.month - 1]}"


def where_fr(commune: str, place: str | None) -> str:
    return f"{commune}, {place}" if place else f"{commune} (mairie)"


def tour_fr(stops) -> str:
    """' Arrêts : 07:47 prendre Jeanne à Crayssac, 07:53 prendre Odette à Douelle, 08:10
    déposer Jeanne et Odette à Cahors.' — empty for a run with one passenger."""
    if sum(1 for _at, kind, _first, _commune in stops if kind == "pickup") < 2:
        return ""
    parts: list[str] = []
    for at, kind, first, commune in stops:
        verb = "prendre" if kind == "pickup" else "déposer"
        head = f"{format_time_fr(at)} {verb} "
        if parts and parts[-1].startswith(head) and parts[-1].endswith(f" à {commune}"):
            parts[-1] = parts[-1][: -len(f" à {commune}")] + f" et {first} à {commune}"
        else:
            parts.append(f"{head}{first} à {commune}")
    return " Arrêts : " + ", ".join(parts) + "."


@dataclass(frozen=True)
class TripFacts:
    passenger_first: str
    driver_first: str
    commune: str
    place: str | None
    destination: str
    pickup_local: datetime
    operator: str
    link: str = ""
    old_pickup_local: datetime | None = None
    contribution: str = "Trajet gratuit."  # the participation sentence (issue #18)
    # the run's stops in order when the driver takes several passengers (issue #12)
    stops: tuple[tuple[datetime, str, str, str], ...] = ()

    def fields(self) -> dict[str, str]:
        return {
            "passenger": self.passenger_first, "driver": self.driver_first,
            "where": where_fr(self.commune, self.place), "commune": self.commune,
            "destination": self.destination, "day": day_fr(self.pickup_local),
            "time": format_time_fr(self.pickup_local), "operator": self.operator,
            "link": self.link,
            "old_time": format_time_fr(self.old_pickup_local) if self.old_pickup_local else "",
            "contribution": self.contribution,
            "tour": tour_fr(self.stops),
        }


def render(kind: str, recipient: str, facts: TripFacts) -> str:
    return normalize(TEMPLATES[(kind, recipient)].format(**facts.fields()))


def render_reply(name: str, operator: str, **extra: str) -> str:
    return normalize(REPLIES[name].format(operator=operator, **extra))
