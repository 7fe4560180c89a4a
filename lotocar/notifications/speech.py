"""What an automatic call says, written for the ear (issue #17), and its TwiML.

A text to be heard is not an SMS read aloud: no abbreviations, no "10:05", no "(mairie)".
Dates and times are spelt as they are spoken ("mardi 8 décembre, à 8 heures 52"), the
driver is named by his first name, the meeting place is said in full, and the service's
number is read in pairs ("zéro 5, 31, 60, zéro 9, zéro 3"). The message is said twice, then
the person is asked for one key: 1 to confirm, 2 if she cannot come, 3 to hear it again.
An answering machine gets the message once, with the number to call back.
"""
from __future__ import annotations

from datetime import datetime

from twilio.twiml.voice_response import VoiceResponse

from lotocar.core.timeutil import MONTH_NAMES_FR, WEEKDAY_NAMES_FR

# kinds whose call asks "1 / 2 / 3"; the others only offer to hear the message again
ASKS_ANSWER = frozenset({"confirmed", "reminder_eve", "reminder_soon", "changed"})

TEMPLATES: dict[str, str] = {
    "confirmed":
        "Votre trajet est confirmé, pour {day}, à {time}. {driver} vous prendra {where}, "
        "pour aller à {destination}.",
    "reminder_eve":
        "Petit rappel pour demain, {day}. À {time}, {driver} vous prendra {where}, "
        "pour aller à {destination}.",
    "reminder_soon":
        "{driver} passe vous prendre aujourd'hui, à {time}, {where}.",
    "changed":
        "Attention, l'heure de votre trajet change. {driver} vous prendra {day}, à {time}, "
        "au lieu de {old_time}, {where}.",
    "cancelled":
        "Votre trajet du {day}, à {time}, au départ de {commune}, est annulé. "
        "L'équipe vous rappellera si besoin.",
    "cancelled_by_driver":
        "{driver} ne peut plus vous prendre {day}, à {time}. Nous cherchons une autre solution, "
        "et l'équipe vous rappellera.",
}

GREETING = "Bonjour {passenger}. Ici Lot'ôcar, le covoiturage solidaire du Lot."
REPEAT = "Je répète."
PROMPT = "Tapez 1 pour confirmer, 2 si vous ne pouvez pas venir, 3 pour réécouter."
PROMPT_REPLAY = "Tapez 3 pour réécouter ce message."
NO_ANSWER = "Je n'ai pas eu de réponse. Pour toute question, appelez l'équipe au {operator}. Au revoir."
MACHINE_END = "Pour toute question, appelez l'équipe de Lot'ôcar au {operator}. Au revoir."
THANKS = "Merci, c'est noté. Bonne journée, au revoir."
CANCELLED_BY_YOU = ("C'est noté : votre trajet est annulé, et nous prévenons {driver}. "
                    "L'équipe vous rappellera si besoin, au {operator}. Au revoir.")
ALREADY_CANCELLED = "Ce trajet est déjà annulé. Pour toute question, appelez l'équipe au {operator}. Au revoir."
NOT_UNDERSTOOD = "Je n'ai pas compris."
GONE = "Ce message n'est plus disponible. Pour toute question, appelez l'équipe de Lot'ôcar. Au revoir."


def day_spoken(local: datetime) -> str:
    """'mardi 8 décembre', 'mardi 1er décembre'."""
    day = "1er" if local.day == 1 else str(local.day)
    return f"{WEEKDAY_NAMES_FR[local.weekday()]} {day} {MONTH_NAMES_FR[local.month - 1]}"


def time_spoken(local: datetime) -> str:
    """'8 heures 52', '8 heures', '1 heure 5', 'midi', 'midi 30', 'minuit'."""
    hour, minute = local.hour, local.minute
    if hour == 12:
        head = "midi"
    elif hour == 0:
        head = "minuit"
    else:
        head = f"{hour} heure" + ("s" if hour > 1 else "")
    return head if minute == 0 else f"{head} {minute}"


def phone_spoken(number: str) -> str:
    """'05 31 60 09 03' → 'zéro 5, 31, 60, zéro 9, zéro 3' (pairs, as people dictate them)."""
    digits = "".join(ch for ch in number if ch.isdigit())
    if number.strip().startswith("+33") and len(digits) == 11:
        digits = "0" + digits[2:]
    pairs = [digits[i:i + 2] for i in range(0, len(digits), 2)]
    return ", ".join(f"zéro {p[1]}" if len(p) == 2 and p[0] == "0" else p for p in pairs)


def where_spoken(commune: str, place: str | None) -> str:
    return f"à {commune}, {place}" if place else f"à {commune}, devant la mairie"


def message(kind: str, *, passenger: str, driver: str, commune: str, place: str | None,
            destination: str, pickup_local: datetime, old_pickup_local: datetime | None = None) -> str:
    """The spoken message, said twice by the call (after the greeting, see `greeting`)."""
    text = TEMPLATES[kind].format(
        driver=driver, where=where_spoken(commune, place), commune=commune, destination=destination,
        day=day_spoken(pickup_local), time=time_spoken(pickup_local),
        old_time=time_spoken(old_pickup_local) if old_pickup_local else "")
    return text[0].upper() + text[1:]


def greeting(name: str | None) -> str:
    return GREETING.format(passenger=name) if name else "Bonjour. Ici Lot'ôcar, le covoiturage solidaire du Lot."


def _say(parent, text: str, voice: str) -> None:
    parent.say(text, language="fr-FR", voice=voice)


def twiml_message(body: str, kind: str, *, name: str | None, machine: bool, gather_url: str, voice: str,
                  operator: str, timeout_s: int) -> str:
    """The call: for a person, the message twice then one key; for a machine, once."""
    spoken_operator = phone_spoken(operator)
    response = VoiceResponse()
    if machine:
        _say(response, f"{greeting(name)} {body}", voice)
        _say(response, MACHINE_END.format(operator=spoken_operator), voice)
        response.hangup()
        return str(response)
    _say(response, f"{greeting(name)} {body}", voice)
    response.pause(length=1)
    _say(response, f"{REPEAT} {body}", voice)
    _gather(response, kind, gather_url, voice, timeout_s)
    _say(response, NO_ANSWER.format(operator=spoken_operator), voice)
    response.hangup()
    return str(response)


def _gather(response, kind: str, gather_url: str, voice: str, timeout_s: int) -> None:
    gather = response.gather(num_digits=1, action=gather_url, method="POST", timeout=timeout_s)
    _say(gather, PROMPT if kind in ASKS_ANSWER else PROMPT_REPLAY, voice)


def twiml_replay(body: str, kind: str, *, gather_url: str, voice: str, operator: str, timeout_s: int,
                 prefix: str | None = None) -> str:
    """Key 3 (or a key not understood): the message once more, and the question again."""
    response = VoiceResponse()
    if prefix:
        _say(response, prefix, voice)
    _say(response, body, voice)
    _gather(response, kind, gather_url, voice, timeout_s)
    _say(response, NO_ANSWER.format(operator=phone_spoken(operator)), voice)
    response.hangup()
    return str(response)


def twiml_final(text: str, voice: str) -> str:
    response = VoiceResponse()
    _say(response, text, voice)
    response.hangup()
    return str(response)


def full_call_text(body: str, kind: str, operator: str, name: str | None = None) -> str:
    """Everything a person hears when nobody presses a key (development print, WAV, README)."""
    prompt = PROMPT if kind in ASKS_ANSWER else PROMPT_REPLAY
    return " ".join([greeting(name), body, REPEAT, body, prompt, NO_ANSWER.format(operator=phone_spoken(operator))])
