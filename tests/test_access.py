"""Who may do what, proven route by route: EVERY route of the app × EVERY role.

The table `ACCESS` has one row per (endpoint, method) of `app.url_map`; a route that is not
in the table (or a row whose route is gone) fails `test_table_covers_every_route`, so a new
route cannot slip in without someone deciding who may use it.

Each row is called with concrete URLs built from real rows (driver A's trip, driver B's trip,
a passenger, a request, a booking on driver A's trip, the SMS answer link of that booking)
as: anonymous, driver A, driver B, an operator and an admin (browser sessions), and the
answer must fall in the expected class:

    OK         2xx, or 3xx that ends (following at most 3 redirects) on a 200 page
               that is not the login page
    LOGIN      302 to the login page with ?next= (web pages)
    API_401    401 JSON (the API only trusts bearer tokens: a session cookie is not enough)
    FORBIDDEN  403
    NOT_FOUND  404 (someone else's object: its existence is not even confirmed)

Every form POST carries a valid CSRF token of its own session, so what is tested is the
access rule, not CSRF. A refused POST must leave the database untouched. Routes that
change data get a fresh world for each role, so the second caller is not refused because
the first one already did it.

Then page CONTENT: a passenger's phone is shown to the driver only once the driver has
accepted; drivers' and passengers' numbers never appear on public pages nor on the
statistics pages.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import time, timedelta
from typing import Any, Callable
from urllib.parse import parse_qs, urlsplit

import pytest

from lotocar.api.operations import issue_token
from lotocar.auth.models import Role, User
from lotocar.bookings.models import Booking, BookingStatus
from lotocar.candidates import operations as candidates
from lotocar.core.phones import format_phone
from lotocar.core.timeutil import local_to_utc, utcnow
from lotocar.drivers.models import Driver
from lotocar.extensions import db
from lotocar.notifications.models import SmsMessage
from lotocar.offers import operations as offer_ops
from lotocar.offers.models import Offer
from lotocar.offers.rules import OfferInput
from lotocar.passengers.models import Passenger
from lotocar.requests.models import RequestMode, RequestReason, TripRequest
from tests.conftest import login_as
from tests.factories import MONDAY, commune
from tests.test_offers import regular_form

OK, LOGIN, API_401, FORBIDDEN, NOT_FOUND = "ok", "login", "401", "403", "404"
ROLES = ("anonymous", "driver_a", "driver_b", "operator", "admin")
TUESDAY = MONDAY + timedelta(days=1)
NEXT_MONDAY = MONDAY + timedelta(days=7)
STAFF_PASSWORD = "motdepasse-solide-46"
TWILIO_TOKEN = "test-twilio-auth-token"


# --- the world ---------------------------------------------------------------------------------

_seq = {"n": 0}


@dataclass
class World:
    k: int
    driver_a_user: int
    driver_b_user: int
    driver_a: int            # Driver ids (console pages, RGPD)
    driver_b: int
    offer_a: int
    offer_b: int
    passenger: int
    request: int             # open request, nobody proposed yet (console actions)
    booked_request: int      # the request of `booking`
    booking: int             # proposed on driver A's trip
    token: str               # driver A's SMS answer link for `booking`
    operator: int
    admin: int
    phones: dict[str, str]   # who → E.164

    def user(self, role: str) -> int | None:
        return {"driver_a": self.driver_a_user, "driver_b": self.driver_b_user,
                "operator": self.operator, "admin": self.admin}.get(role)


def _driver(first: str, phone: str, home: str) -> User:
    user = User(role=Role.DRIVER, first_name=first, last_name="Conducteur", phone=phone,
                phone_verified_at=utcnow())
    user.driver = Driver(home_insee=home, consent_contact=True, consent_at=utcnow())
    db.session.add(user)
    db.session.commit()
    return user


def _request(pax: Passenger, day) -> TripRequest:
    r = TripRequest(passenger_id=pax.id, mode=RequestMode.ARRIVE_BY, target_at=local_to_utc(day, time(8, 30)),
                    flexibility_min=30, reason=RequestReason.MEDICAL)
    r.set_place("origin", commune("46088"))        # Douelle
    r.set_place("destination", commune("46042"))   # Cahors
    db.session.add(r)
    db.session.commit()
    return r


def _trip(driver: User, origin: str) -> Offer:
    data = OfferInput(kind="regular", origin=offer_ops.place_input(commune(origin), None, None, None),
                      destination=offer_ops.place_input(commune("46042"), None, None, None),
                      seats=3, max_detour_min=10, departure_time=time(7, 45),
                      weekdays=frozenset({1, 2, 3, 4, 5}), first_date=MONDAY - timedelta(days=1),
                      last_date=MONDAY + timedelta(days=60))
    saved = offer_ops.create_offer(driver.driver, data, driver.id)
    db.session.commit()
    return saved


def build_world() -> World:
    """Driver A (Luzech → Cahors, with a proposed booking), driver B (Figeac → Cahors),
    one passenger with two requests, an operator and an admin. Numbers are unique per world."""
    _seq["n"] += 1
    k = _seq["n"]
    phones = {"driver_a": f"+3361100{k:04d}", "driver_b": f"+3362200{k:04d}",
              "passenger": f"+3363300{k:04d}"}
    a = _driver("Adèle", phones["driver_a"], "46182")
    b = _driver("Bruno", phones["driver_b"], "46102")
    offer_a = _trip(a, "46182")   # Luzech → Cahors: the candidate of the passenger's requests
    offer_b = _trip(b, "46102")   # Figeac → Cahors: far from Douelle
    pax = Passenger(first_name="Odette", last_name="Marty", phone=phones["passenger"], home_insee="46088",
                    has_no_car=True, sms_consent_at=utcnow())
    db.session.add(pax)
    db.session.commit()
    booked = _request(pax, MONDAY)
    booking = candidates.propose_candidate(booked, offer_a.id, MONDAY, None)
    db.session.commit()
    sms = db.session.scalar(db.select(SmsMessage).where(SmsMessage.booking_id == booking.id,
                                                        SmsMessage.kind == "proposal"))
    token = re.search(r"/r/([A-Za-z0-9]{20})\b", sms.body).group(1)
    open_request = _request(pax, TUESDAY)
    operator = User(role=Role.OPERATOR, email=f"op{k}@lotocar.fr", first_name="Sophie", last_name="Martin")
    admin = User(role=Role.ADMIN, email=f"admin{k}@lotocar.fr", first_name="Alain", last_name="Vidal")
    db.session.add_all([operator, admin])
    db.session.commit()
    return World(k, a.id, b.id, a.driver.id, b.driver.id, offer_a.id, offer_b.id, pax.id, open_request.id,
                 booked.id, booking.id, token, operator.id, admin.id, phones)


def fingerprint() -> tuple:
    """What a refused request must not change."""
    from lotocar.audit.models import AuditEntry

    db.session.expire_all()
    count = lambda model: db.session.scalar(db.select(db.func.count()).select_from(model))  # noqa: E731
    return (count(AuditEntry), count(User), count(Passenger), count(TripRequest), count(Offer), count(Booking),
            count(SmsMessage),
            sorted((b.id, b.status.value) for b in db.session.scalars(db.select(Booking))),
            sorted((o.id, o.status.value, o.seats) for o in db.session.scalars(db.select(Offer))),
            sorted((r.id, r.status.value, r.flag) for r in db.session.scalars(db.select(TripRequest))),
            sorted((p.id, p.notes, p.anonymised_at is None) for p in db.session.scalars(db.select(Passenger))),
            sorted((u.id, u.active, u.phone) for u in db.session.scalars(db.select(User))))


# --- the table -----------------------------------------------------------------------------------

def _roles(anonymous, driver_a, driver_b, operator, admin) -> dict[str, str]:
    return dict(zip(ROLES, (anonymous, driver_a, driver_b, operator, admin)))


PUBLIC = _roles(OK, OK, OK, OK, OK)
DRIVER = _roles(LOGIN, OK, OK, FORBIDDEN, FORBIDDEN)               # any driver, their own page
DRIVER_A_ONLY = _roles(LOGIN, OK, NOT_FOUND, FORBIDDEN, FORBIDDEN)  # driver A's trip / booking
STAFF = _roles(LOGIN, FORBIDDEN, FORBIDDEN, OK, OK)
ADMIN = _roles(LOGIN, FORBIDDEN, FORBIDDEN, FORBIDDEN, OK)
API = _roles(API_401, API_401, API_401, API_401, API_401)           # cookies never open the API
SIGNED = _roles(FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN)  # Twilio signature instead

Data = Callable[[World, str], dict[str, Any]]


@dataclass(frozen=True)
class Row:
    url: str                       # format string over `w` (the World)
    expect: dict[str, str]
    data: Data | None = None       # form fields (or JSON body when json=True)
    json: bool = False
    setup: Callable[[World], None] | None = None
    config: dict[str, Any] | None = None   # app settings for this row (restored afterwards)


def _signup(w: World, role: str) -> dict:
    return {"first_name": "Paule", "last_name": "Nouvelle", "phone": format_phone(f"+3364400{w.k:04d}"),
            "home": "Cahors", "consent_contact": "y"}


def _staff_password(w: World) -> None:
    from lotocar.auth.operations import set_password

    set_password(db.session.get(User, w.operator), STAFF_PASSWORD)
    db.session.commit()


def _skip_next_monday(w: World) -> None:
    from lotocar.core import tx

    tx.atomic(lambda: offer_ops.skip_date(db.session.get(Offer, w.offer_a), NEXT_MONDAY, w.driver_a_user))


def _new_passenger(w: World, role: str) -> dict:
    return {"phone": format_phone(f"+3365500{w.k:04d}"), "first_name": "Odile", "last_name": "Nouvelle",
            "home": "Douelle", "has_no_car": "y", "sms_consent": "y"}


def _request_form(w: World, role: str) -> dict:
    return {"origin": "Douelle (46140)", "destination": "Cahors", "mode": "arrive_by",
            "day": (MONDAY + timedelta(days=2)).isoformat(), "at": "09:00", "flexibility_min": "30",
            "reason": "medical"}


def _api_offer(w: World, role: str) -> dict:
    return {"driver_id": w.driver_a, "origin": {"insee": "46182"}, "destination": {"insee": "46042"},
            "recurrence": {"weekdays": [6], "time": "10:00", "start_date": MONDAY.isoformat(),
                           "end_date": (MONDAY + timedelta(days=30)).isoformat()},
            "seats": 2, "max_detour_minutes": 10}


def _api_request(w: World, role: str) -> dict:
    return {"passenger_id": w.passenger, "origin": {"insee": "46088"}, "destination": {"insee": "46042"},
            "arrive_by": f"{(MONDAY + timedelta(days=2)).isoformat()}T08:30", "flexibility_minutes": 30,
            "reason": "medical"}


ACCESS: dict[tuple[str, str], Row] = {
    # public pages and files
    ("main.index", "GET"): Row("/", PUBLIC),
    ("main.healthz", "GET"): Row("/healthz", PUBLIC),
    ("main.dsfr_asset", "GET"): Row("/assets/dsfr/dsfr.min.css", PUBLIC),
    ("main.npm_asset", "GET"): Row("/assets/leaflet/leaflet.js", PUBLIC),
    ("static", "GET"): Row("/static/css/app.css", PUBLIC),
    ("communes.autocomplete", "GET"): Row("/communes/autocomplete?q=cahor", PUBLIC),
    ("communes.lookup", "GET"): Row("/communes/lookup?q=cahors", PUBLIC),
    ("stats.public", "GET"): Row("/chiffres-cles", PUBLIC),
    ("api.openapi_json", "GET"): Row("/api/openapi.json", PUBLIC),
    # sign-up and login (a logged-in person is sent to their home page)
    ("auth.login", "GET"): Row("/connexion", PUBLIC),
    ("auth.login", "POST"): Row("/connexion", PUBLIC, lambda w, r: {"phone": format_phone(w.phones["driver_a"])}),
    ("auth.login_code", "GET"): Row("/connexion/code", PUBLIC),
    ("auth.login_code", "POST"): Row("/connexion/code", PUBLIC, lambda w, r: {"code": "000000"}),
    ("auth.staff_login", "GET"): Row("/connexion/equipe", PUBLIC),
    ("auth.staff_login", "POST"): Row("/connexion/equipe", PUBLIC, lambda w, r: {
        "email": f"op{w.k}@lotocar.fr", "password": STAFF_PASSWORD}, setup=_staff_password),
    ("auth.signup", "GET"): Row("/inscription", PUBLIC),
    ("auth.signup", "POST"): Row("/inscription", PUBLIC, _signup),
    ("auth.verify", "GET"): Row("/inscription/code", PUBLIC),
    ("auth.verify", "POST"): Row("/inscription/code", PUBLIC, lambda w, r: {"code": "000000"}),
    ("auth.resend_verify", "POST"): Row("/inscription/renvoyer", PUBLIC, lambda w, r: {}),
    ("auth.logout", "POST"): Row("/deconnexion", _roles(LOGIN, OK, OK, OK, OK), lambda w, r: {}),
    # after a sign-up code, a driver the team registered confirms her details (no pending
    # sign-up in the session: back to her trips)
    ("auth.confirm_details", "GET"): Row("/inscription/confirmer", DRIVER),
    ("auth.confirm_details", "POST"): Row("/inscription/confirmer", DRIVER, lambda w, r: {"choice": "typed"}),
    # drivers' pages: their own trips only
    ("offers.my_trips", "GET"): Row("/mes-trajets/", DRIVER),
    ("offers.new", "GET"): Row("/mes-trajets/nouveau", DRIVER),
    ("offers.new", "POST"): Row("/mes-trajets/nouveau", DRIVER, lambda w, r: regular_form()),
    ("offers.edit", "GET"): Row("/mes-trajets/{w.offer_a}/modifier", DRIVER_A_ONLY),
    ("offers.edit", "POST"): Row("/mes-trajets/{w.offer_a}/modifier", DRIVER_A_ONLY,
                                 lambda w, r: regular_form(seats="2")),
    # pause / cancel / one date: a confirmation page (GET or a first POST), then `confirm=1`
    ("offers.change_status", "GET"): Row("/mes-trajets/{w.offer_a}/pause", DRIVER_A_ONLY),
    ("offers.change_status", "POST"): Row("/mes-trajets/{w.offer_a}/pause", DRIVER_A_ONLY,
                                          lambda w, r: {"confirm": "1"}),
    ("offers.skip_date", "GET"): Row("/mes-trajets/{w.offer_a}/annuler-une-date?jour=" + NEXT_MONDAY.isoformat(),
                                     DRIVER_A_ONLY),
    ("offers.skip_date", "POST"): Row("/mes-trajets/{w.offer_a}/annuler-une-date", DRIVER_A_ONLY,
                                      lambda w, r: {"jour": NEXT_MONDAY.isoformat(), "confirm": "1"}),
    ("offers.restore_date", "POST"): Row("/mes-trajets/{w.offer_a}/retablir-une-date", DRIVER_A_ONLY,
                                         lambda w, r: {"jour": NEXT_MONDAY.isoformat()}, setup=_skip_next_monday),
    ("offers.answer", "POST"): Row("/mes-trajets/reservations/{w.booking}/accept", DRIVER_A_ONLY,
                                   lambda w, r: {}),
    ("offers.withdraw", "GET"): Row("/mes-trajets/reservations/{w.booking}/cancel", DRIVER_A_ONLY),
    ("offers.withdraw", "POST"): Row("/mes-trajets/reservations/{w.booking}/cancel", DRIVER_A_ONLY,
                                     lambda w, r: {"confirm": "1"}),
    # the SMS answer link: the signed token is the credential (drivers answer from their phone)
    ("notifications.answer_page", "GET"): Row("/r/{w.token}", PUBLIC),
    ("notifications.answer", "POST"): Row("/r/{w.token}", PUBLIC, lambda w, r: {"answer": "oui"}),
    # Twilio webhooks: whoever calls, no valid X-Twilio-Signature → 403
    ("notifications.inbound_sms", "POST"): Row("/sms/webhooks/inbound", SIGNED, lambda w, r: {
        "MessageSid": f"SMin{w.k}", "From": w.phones["driver_a"], "To": "+33700000000", "Body": "OUI"},
        config={"TWILIO_AUTH_TOKEN": TWILIO_TOKEN}),
    ("notifications.status_callback", "POST"): Row("/sms/webhooks/status", SIGNED, lambda w, r: {
        "MessageSid": f"SMst{w.k}", "MessageStatus": "delivered"}, config={"TWILIO_AUTH_TOKEN": TWILIO_TOKEN}),
    ("voice.twiml", "POST"): Row("/voice/webhooks/twiml/tok{w.k}", SIGNED, lambda w, r: {
        "CallSid": f"CAtw{w.k}", "AnsweredBy": "human"}, config={"TWILIO_AUTH_TOKEN": TWILIO_TOKEN}),
    ("voice.gather", "POST"): Row("/voice/webhooks/gather/tok{w.k}", SIGNED, lambda w, r: {
        "CallSid": f"CAga{w.k}", "Digits": "2"}, config={"TWILIO_AUTH_TOKEN": TWILIO_TOKEN}),
    ("voice.status", "POST"): Row("/voice/webhooks/status", SIGNED, lambda w, r: {
        "CallSid": f"CAst{w.k}", "CallStatus": "completed"}, config={"TWILIO_AUTH_TOKEN": TWILIO_TOKEN}),
    # the operators' console
    ("candidates.request_candidates", "GET"): Row("/requests/{w.request}/candidates", STAFF),
    ("console.index", "GET"): Row("/console/", STAFF),
    ("console.new_call", "GET"): Row("/console/appel?q=Marty", STAFF),
    ("console.drivers", "GET"): Row("/console/conducteurs", STAFF),
    ("console.driver", "GET"): Row("/console/conducteurs/{w.driver_a}", STAFF),
    ("console.driver_end_sessions", "POST"): Row("/console/conducteurs/{w.driver_a}/deconnecter", STAFF,
                                                 lambda w, r: {}),
    # a driver who phones in: the operator manages his trips (issue #14)
    ("console.driver_trip_new", "GET"): Row("/console/conducteurs/{w.driver_a}/trajets/nouveau", STAFF),
    ("console.driver_trip_new", "POST"): Row("/console/conducteurs/{w.driver_a}/trajets/nouveau", STAFF,
                                             lambda w, r: regular_form()),
    ("console.driver_trip_edit", "GET"): Row("/console/conducteurs/{w.driver_a}/trajets/{w.offer_a}/modifier", STAFF),
    ("console.driver_trip_edit", "POST"): Row("/console/conducteurs/{w.driver_a}/trajets/{w.offer_a}/modifier",
                                              STAFF, lambda w, r: regular_form(seats="2")),
    ("console.driver_trip_status", "GET"): Row("/console/conducteurs/{w.driver_a}/trajets/{w.offer_a}/cancel", STAFF),
    ("console.driver_trip_status", "POST"): Row("/console/conducteurs/{w.driver_a}/trajets/{w.offer_a}/pause",
                                                STAFF, lambda w, r: {"confirm": "1"}),
    ("console.driver_trip_skip", "GET"): Row("/console/conducteurs/{w.driver_a}/trajets/{w.offer_a}/annuler-une-date"
                                             "?jour=" + NEXT_MONDAY.isoformat(), STAFF),
    ("console.driver_trip_skip", "POST"): Row("/console/conducteurs/{w.driver_a}/trajets/{w.offer_a}/annuler-une-date",
                                              STAFF, lambda w, r: {"jour": NEXT_MONDAY.isoformat(), "confirm": "1"}),
    ("console.driver_trip_restore", "POST"): Row(
        "/console/conducteurs/{w.driver_a}/trajets/{w.offer_a}/retablir-une-date", STAFF,
        lambda w, r: {"jour": NEXT_MONDAY.isoformat()}, setup=_skip_next_monday),
    ("console.trip_request", "GET"): Row("/console/demandes/{w.request}", STAFF),
    ("console.cancel_request", "POST"): Row("/console/demandes/{w.request}/annuler", STAFF,
                                            lambda w, r: {"reason": "Le passager a trouvé"}),
    ("console.propose", "POST"): Row("/console/demandes/{w.request}/proposer", STAFF, lambda w, r: {
        "offer_id": str(w.offer_a), "date": TUESDAY.isoformat()}),
    ("console.unmet", "POST"): Row("/console/demandes/{w.request}/sans-solution", STAFF,
                                   lambda w, r: {"reason": "Aucun conducteur à cet horaire"}),
    ("console.clear_flag", "POST"): Row("/console/demandes/{w.request}/vu", STAFF, lambda w, r: {}),
    ("console.edit_request", "GET"): Row("/console/demandes/{w.request}/modifier", STAFF),
    ("console.edit_request", "POST"): Row("/console/demandes/{w.request}/modifier", STAFF,
                                          lambda w, r: {**_request_form(w, r), "seats": "1"}),
    ("console.widen_request", "POST"): Row("/console/demandes/{w.request}/elargir", STAFF, lambda w, r: {
        "offer_id": str(w.offer_a), "date": TUESDAY.isoformat()}),
    ("console.register_passenger", "POST"): Row("/console/passagers", STAFF, _new_passenger),
    ("console.passenger", "GET"): Row("/console/passagers/{w.passenger}", STAFF),
    ("console.new_request", "GET"): Row("/console/passagers/{w.passenger}/demande", STAFF),
    ("console.new_request", "POST"): Row("/console/passagers/{w.passenger}/demande", STAFF, _request_form),
    ("console.passenger_notes", "POST"): Row("/console/passagers/{w.passenger}/notes", STAFF,
                                             lambda w, r: {"notes": "Rappeler le matin", "needs": "Canne"}),
    ("console.passenger_call_consent", "POST"): Row("/console/passagers/{w.passenger}/appels", STAFF,
                                                    lambda w, r: {"call_consent": "y"}),
    # records editable by operators (issue #14)
    ("console.edit_passenger", "GET"): Row("/console/passagers/{w.passenger}/modifier", STAFF),
    ("console.edit_passenger", "POST"): Row("/console/passagers/{w.passenger}/modifier", STAFF, lambda w, r: {
        "phone": format_phone(f"+3365511{w.k:04d}"), "first_name": "Odile", "last_name": "Marty",
        "home": "Douelle", "has_no_car": "y", "need_front_seat": "y"}),
    ("offers.my_accepts", "GET"): Row("/mes-trajets/ce-que-j-accepte", DRIVER),
    ("offers.my_accepts", "POST"): Row("/mes-trajets/ce-que-j-accepte", DRIVER,
                                       lambda w, r: {"accept_assistance_dog": "y"}),
    ("console.edit_driver", "GET"): Row("/console/conducteurs/{w.driver_a}/modifier", STAFF),
    ("console.edit_driver", "POST"): Row("/console/conducteurs/{w.driver_a}/modifier", STAFF, lambda w, r: {
        "phone": format_phone(f"+3366611{w.k:04d}"), "first_name": "Alice", "last_name": "A",
        "home": "Luzech", "accept_wheelchair": "y"}),
    ("console.booking", "GET"): Row("/console/reservations/{w.booking}", STAFF),
    ("console.booking_action", "POST"): Row("/console/reservations/{w.booking}/accept", STAFF, lambda w, r: {}),
    # personal data (RGPD): admins only
    ("console.privacy_export", "GET"): Row("/console/rgpd/passenger/{w.passenger}/export", ADMIN),
    ("console.privacy_erase", "POST"): Row("/console/rgpd/driver/{w.driver_a}/effacer", ADMIN,
                                           lambda w, r: {"reason": "Demande écrite du 12/03"}),
    # statistics: staff; the full (named) export: admins only
    ("stats.dashboard", "GET"): Row("/statistiques/", STAFF),
    ("stats.unmet_map", "GET"): Row("/statistiques/carte", STAFF),
    ("stats.map_data", "GET"): Row("/statistiques/carte.json", STAFF),
    ("stats.virtual_lines", "GET"): Row("/statistiques/lignes-virtuelles", STAFF),
    ("stats.exports_page", "GET"): Row("/statistiques/exports", STAFF),
    ("stats.export_csv", "GET"): Row("/statistiques/exports/demandes.csv", STAFF),
    ("stats.export_full", "POST"): Row("/statistiques/exports/reservations/complet", ADMIN,
                                       lambda w, r: {"motif": "Contrôle annuel du financeur"}),
    # cost participation (issue #18): a driver's own choice; operators for any driver / passenger
    ("contributions.my_mode", "POST"): Row("/mes-trajets/participation", DRIVER, lambda w, r: {"mode": "free"}),
    ("contributions.driver_mode", "POST"): Row("/console/conducteurs/{w.driver_a}/participation", STAFF,
                                               lambda w, r: {"mode": "free"}),
    ("contributions.exemption", "POST"): Row("/console/passagers/{w.passenger}/exoneration", STAFF,
                                             lambda w, r: {"exempt": "y", "reason": "Critères sociaux (CCAS)"}),
    # drivers' statements: their own; operators print anyone's
    ("statements.my_statement", "GET"): Row("/mon-releve/?mois=2026-11", DRIVER),
    ("statements.my_statement_file", "GET"): Row("/mon-releve/2026-11.pdf", DRIVER),
    ("statements.driver_statement", "GET"): Row("/console/conducteurs/{w.driver_a}/releve", STAFF),
    ("statements.driver_statement_file", "GET"): Row("/console/conducteurs/{w.driver_a}/releve/2026-11.csv",
                                                     STAFF),
    # carpool proofs: operators
    ("rpc.index", "GET"): Row("/console/preuves/", STAFF),
    # the JSON API: bearer tokens only (see test_api_tokens_on_real_rows for the tokens)
    ("api.list_communes", "GET"): Row("/api/v1/communes?q=cahors", API),
    ("api.create_driver", "POST"): Row("/api/v1/drivers", API, lambda w, r: {
        "first_name": "Nina", "last_name": "Bru", "phone": f"+3366600{w.k:04d}", "home_insee": "46042",
        "consent_contact": True}, json=True),
    ("api.create_passenger", "POST"): Row("/api/v1/passengers", API, lambda w, r: {
        "first_name": "Rose", "last_name": "Lafon", "phone": f"+3367700{w.k:04d}", "home_insee": "46088",
        "has_no_car": True}, json=True),
    ("api.create_offer", "POST"): Row("/api/v1/offers", API, _api_offer, json=True),
    ("api.create_request", "POST"): Row("/api/v1/requests", API, _api_request, json=True),
    ("api.get_request", "GET"): Row("/api/v1/requests/{w.request}", API),
    ("api.request_candidates", "GET"): Row("/api/v1/requests/{w.request}/candidates", API),
    ("api.create_booking", "POST"): Row("/api/v1/bookings", API, lambda w, r: {
        "request_id": w.request, "offer_id": w.offer_a, "date": TUESDAY.isoformat()}, json=True),
    ("api.get_booking", "GET"): Row("/api/v1/bookings/{w.booking}", API),
    ("api.booking_action", "POST"): Row("/api/v1/bookings/{w.booking}/accept", API, lambda w, r: {}, json=True),
}


def app_routes(app) -> set[tuple[str, str]]:
    return {(rule.endpoint, method) for rule in app.url_map.iter_rules()
            for method in rule.methods - {"HEAD", "OPTIONS"}}


def test_table_covers_every_route(app):
    routes = app_routes(app)
    missing = sorted(routes - ACCESS.keys())
    stale = sorted(ACCESS.keys() - routes)
    assert not missing, f"routes with no access rule in tests/test_access.py ACCESS: {missing}"
    assert not stale, f"ACCESS rows for routes that no longer exist: {stale}"
    assert all(set(row.expect) == set(ROLES) for row in ACCESS.values())


# --- calling a route as someone ------------------------------------------------------------------

_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
CSRF_PAGE = {"anonymous": "/connexion", "driver_a": "/mes-trajets/", "driver_b": "/mes-trajets/",
             "operator": "/console/appel?q=zzzz", "admin": "/console/appel?q=zzzz"}


def client_as(app, w: World, role: str):
    client = app.test_client()
    if role != "anonymous":
        login_as(client, db.session.get(User, w.user(role)))
    return client


def csrf_for(client, role: str) -> str:
    html = client.get(CSRF_PAGE[role]).get_data(as_text=True)
    match = _CSRF.search(html)
    assert match, f"no CSRF token for {role}"
    return match.group(1)


def call(app, w: World, role: str, method: str, row: Row):
    client = client_as(app, w, role)
    url = row.url.format(w=w)
    if method == "GET":
        return client, client.get(url)
    data = row.data(w, role) if row.data else {}
    if row.json:
        return client, client.post(url, json=data)
    if not url.startswith(("/sms/webhooks/", "/voice/webhooks/")):
        data = {**data, "csrf_token": csrf_for(client, role)}
    return client, client.post(url, data=data)


def is_login_redirect(response) -> bool:
    if response.status_code != 302:
        return False
    location = urlsplit(response.headers["Location"])
    return location.path == "/connexion" and "next" in parse_qs(location.query)


def outcome(client, response) -> tuple[str, str]:
    """(class, detail) of an answer."""
    status = response.status_code
    if status >= 500:
        return f"server error {status}", response.get_data(as_text=True)[:300]
    if is_login_redirect(response):
        return LOGIN, response.headers["Location"]
    if status == 401:
        body = response.get_json(silent=True) or {}
        return (API_401 if body.get("error", {}).get("code") == "unauthorized" else "401?"), str(body)
    if status in (403, 404):
        return str(status), ""
    if 200 <= status < 300:
        return OK, ""
    if 300 <= status < 400:
        hops, seen = 0, []
        while 300 <= response.status_code < 400 and hops < 3:
            if is_login_redirect(response):
                return "redirect to login", " → ".join(seen)
            seen.append(response.headers["Location"])
            response = client.get(response.headers["Location"])
            hops += 1
        return (OK if response.status_code == 200 else f"redirect to {response.status_code}"), " → ".join(seen)
    return f"status {status}", response.get_data(as_text=True)[:300]


# --- the sweep -----------------------------------------------------------------------------------

@pytest.mark.parametrize("endpoint,method", sorted(ACCESS), ids=[f"{m} {e}" for e, m in sorted(ACCESS)])
def test_route_by_role(app, monkeypatch, endpoint, method):
    """One route, the five roles. Data-changing routes get a fresh world per role."""
    row = ACCESS[(endpoint, method)]
    for key, value in (row.config or {}).items():
        monkeypatch.setitem(app.config, key, value)
    shared = build_world() if method == "GET" else None
    wrong = []
    for role in ROLES:
        w = shared or build_world()
        if row.setup:
            row.setup(w)
        before = fingerprint() if method == "POST" else None
        client, response = call(app, w, role, method, row)
        got, detail = outcome(client, response)
        expected = row.expect[role]
        if got != expected:
            wrong.append(f"{role}: expected {expected}, got {got} ({response.status_code}) {detail}")
        elif method == "POST" and expected != OK and fingerprint() != before:
            wrong.append(f"{role}: refused ({got}) but the database changed")
    assert not wrong, f"{method} {row.url}\n" + "\n".join(wrong)


def test_allowed_actions_really_happened(app):
    """The OK answers above are real successes, not redirects with an error message."""
    w = build_world()
    _, r = call(app, w, "driver_a", "POST", ACCESS[("offers.answer", "POST")])
    assert db.session.get(Booking, w.booking).status == BookingStatus.ACCEPTED_BY_DRIVER
    w = build_world()
    _, r = call(app, w, "driver_a", "POST", ACCESS[("offers.withdraw", "POST")])
    assert db.session.get(Booking, w.booking).status == BookingStatus.CANCELLED_BY_DRIVER
    w = build_world()
    _, r = call(app, w, "operator", "POST", ACCESS[("console.propose", "POST")])
    assert r.headers["Location"].startswith("/console/reservations/")
    w = build_world()
    _, r = call(app, w, "driver_a", "POST", ACCESS[("notifications.answer", "POST")])
    assert r.status_code == 200 and db.session.get(Booking, w.booking).status == BookingStatus.ACCEPTED_BY_DRIVER
    w = build_world()
    _, r = call(app, w, "admin", "POST", ACCESS[("console.privacy_erase", "POST")])
    assert db.session.get(User, w.driver_a_user).anonymised_at is not None
    w = build_world()
    call(app, w, "driver_a", "POST", ACCESS[("offers.change_status", "POST")])
    assert db.session.get(Offer, w.offer_a).status.value == "paused"
    w = build_world()
    call(app, w, "operator", "POST", ACCESS[("console.driver_trip_skip", "POST")])
    assert NEXT_MONDAY in db.session.get(Offer, w.offer_a).skip_dates
    w = build_world()
    _, r = call(app, w, "admin", "POST", ACCESS[("stats.export_full", "POST")])
    assert r.status_code == 200 and r.mimetype == "text/csv"


def test_someone_elses_objects_and_unknown_ids_look_the_same(app):
    """Driver B gets the same 404 for driver A's trip as for a trip that does not exist."""
    w = build_world()
    client = client_as(app, w, "driver_b")
    token = csrf_for(client, "driver_b")
    for url in (f"/mes-trajets/{w.offer_a}/modifier", "/mes-trajets/999999/modifier"):
        r = client.get(url)
        assert r.status_code == 404 and "Page introuvable" in r.get_data(as_text=True)
    for url in (f"/mes-trajets/{w.offer_a}/cancel", "/mes-trajets/999999/cancel",
                f"/mes-trajets/reservations/{w.booking}/decline", "/mes-trajets/reservations/999999/decline",
                f"/mes-trajets/reservations/{w.booking}/cancel", "/mes-trajets/reservations/999999/cancel"):
        assert client.post(url, data={"csrf_token": token}).status_code == 404
        assert client.post(url, data={"csrf_token": token, "confirm": "1"}).status_code == 404
    assert client.get(f"/mes-trajets/reservations/{w.booking}/cancel").status_code == 404
    assert db.session.get(Offer, w.offer_a).status.value == "active"
    assert db.session.get(Booking, w.booking).status == BookingStatus.PROPOSED


def test_answer_link_needs_its_exact_token(app, client):
    w = build_world()
    forged = [w.token[:10] + "A" * 10, w.token[:-1] + ("a" if w.token[-1] != "a" else "b"), w.token[:10],
              "x" * 20, w.token + "x"]
    for token in forged:
        assert client.get(f"/r/{token}").status_code == 404, token
    login_as(client, db.session.get(User, w.driver_b_user))  # a session does not help either
    assert client.get(f"/r/{w.token[:10]}{'B' * 10}").status_code == 404


def test_both_rgpd_kinds_are_admin_only(app):
    w = build_world()
    for kind, ident in (("passenger", w.passenger), ("driver", w.driver_a)):
        for role in ROLES:
            client = client_as(app, w, role)
            r = client.get(f"/console/rgpd/{kind}/{ident}/export")
            expected = {"anonymous": 302, "admin": 200}.get(role, 403)
            assert r.status_code == expected, (kind, role, r.status_code)
            if role == "operator":
                page = client.get(f"/console/passagers/{w.passenger}").get_data(as_text=True)
                assert "/rgpd/" not in page  # not even offered


def test_deactivated_accounts_lose_their_session(app):
    w = build_world()
    for role, url in (("driver_a", "/mes-trajets/"), ("operator", "/console/")):
        client = client_as(app, w, role)
        assert client.get(url).status_code == 200
        user = db.session.get(User, w.user(role))
        user.active = False
        db.session.commit()
        assert is_login_redirect(client.get(url)), role


@pytest.fixture
def planted_tokens(app):
    """Bearer tokens: an operator's, an admin's, and one planted for driver A (never issued)."""
    import hashlib

    from lotocar.api.models import ApiToken

    def make(w: World) -> dict[str, str]:
        raw = f"ltc_planted-driver-{w.k}"
        db.session.add(ApiToken(user_id=w.driver_a_user, token_hash=hashlib.sha256(raw.encode()).hexdigest()))
        db.session.commit()
        saved = {"operator": issue_token(f"op{w.k}@lotocar.fr")[0], "admin": issue_token(f"admin{w.k}@lotocar.fr")[0],
                "driver_a": raw}
        db.session.commit()
        return saved

    return make


API_ROUTES = sorted(key for key in ACCESS if key[0].startswith("api.") and key[0] != "api.openapi_json")


@pytest.mark.parametrize("endpoint,method", API_ROUTES, ids=[f"{m} {e}" for e, m in API_ROUTES])
def test_api_tokens_on_real_rows(app, planted_tokens, endpoint, method):
    """With real ids and valid bodies: staff tokens get 2xx, a driver's token 403."""
    row = ACCESS[(endpoint, method)]
    wrong = []
    for who, expected in (("driver_a", 403), ("operator", 2), ("admin", 2)):
        w = build_world()
        tokens = planted_tokens(w)
        client = app.test_client()
        headers = {"Authorization": f"Bearer {tokens[who]}"}
        url = row.url.format(w=w)
        r = (client.get(url, headers=headers) if method == "GET"
             else client.post(url, json=row.data(w, who), headers=headers))
        if (r.status_code // 100 if expected == 2 else r.status_code) != expected:
            wrong.append(f"{who}: {r.status_code} {r.get_data(as_text=True)[:300]}")
    assert not wrong, "\n".join(wrong)


def test_webhooks_accept_a_valid_signature(app, client, monkeypatch):
    """The 403s of the table are about the signature: a signed call gets through."""
    from twilio.request_validator import RequestValidator

    monkeypatch.setitem(app.config, "TWILIO_AUTH_TOKEN", TWILIO_TOKEN)
    form = {"MessageSid": "SMsigned1", "MessageStatus": "delivered"}
    url = "http://localhost/sms/webhooks/status"
    signature = RequestValidator(TWILIO_TOKEN).compute_signature(url, form)
    assert client.post("/sms/webhooks/status", data=form, headers={"X-Twilio-Signature": "bad"}).status_code == 403
    assert client.post("/sms/webhooks/status", data=form,
                       headers={"X-Twilio-Signature": signature}).status_code == 204


# --- what pages show -----------------------------------------------------------------------------

def phone_forms(e164: str) -> list[str]:
    """The ways a French number can be written in a page."""
    national = "0" + e164[3:]
    spaced = format_phone(e164)
    return [e164, national, spaced, spaced.replace(" ", "\u00a0"), spaced.replace(" ", "."),
            "tel:" + e164, e164[3:]]


def shows_phone(html: str, e164: str) -> bool:
    return any(form in html for form in phone_forms(e164))


def test_passenger_phone_shown_to_driver_only_after_acceptance(app):
    w = build_world()
    pax = w.phones["passenger"]
    a = client_as(app, w, "driver_a")
    b = client_as(app, w, "driver_b")
    page = a.get("/mes-trajets/").get_data(as_text=True)
    assert f'data-booking="{w.booking}"' in page and "Odette" in page  # the proposal is listed…
    assert not shows_phone(page, pax)                                  # …without the number
    assert not shows_phone(a.get(f"/r/{w.token}").get_data(as_text=True), pax)
    assert not shows_phone(b.get("/mes-trajets/").get_data(as_text=True), pax)
    # driver A accepts (on the site)
    r = a.post(f"/mes-trajets/reservations/{w.booking}/accept", data={"csrf_token": csrf_for(a, "driver_a")})
    assert r.status_code == 302
    assert shows_phone(a.get("/mes-trajets/").get_data(as_text=True), pax)
    page_b = b.get("/mes-trajets/").get_data(as_text=True)
    assert not shows_phone(page_b, pax) and "Odette" not in page_b
    # the operator confirms: still shown to A, still never to B
    op = client_as(app, w, "operator")
    op.post(f"/console/reservations/{w.booking}/confirm", data={"csrf_token": csrf_for(op, "operator")})
    assert db.session.get(Booking, w.booking).status == BookingStatus.CONFIRMED
    assert shows_phone(a.get("/mes-trajets/").get_data(as_text=True), pax)
    assert not shows_phone(b.get("/mes-trajets/").get_data(as_text=True), pax)


@pytest.mark.parametrize("answer", ["decline", "cancel"])
def test_passenger_phone_hidden_again_when_the_booking_ends(app, answer):
    w = build_world()
    a = client_as(app, w, "driver_a")
    token = csrf_for(a, "driver_a")
    if answer == "cancel":
        a.post(f"/mes-trajets/reservations/{w.booking}/accept", data={"csrf_token": token})
    a.post(f"/mes-trajets/reservations/{w.booking}/{answer}", data={"csrf_token": token, "confirm": "1"})
    assert db.session.get(Booking, w.booking).status in (BookingStatus.DECLINED, BookingStatus.CANCELLED_BY_DRIVER)
    assert not shows_phone(a.get("/mes-trajets/").get_data(as_text=True), w.phones["passenger"])


PUBLIC_PAGES = ["/", "/chiffres-cles", "/chiffres-cles?annee=2025", "/inscription", "/connexion",
                "/connexion/equipe", "/connexion/code", "/inscription/code", "/healthz",
                "/api/openapi.json", "/communes/autocomplete?q=cahors", "/mes-trajets/999999/modifier"]


def test_no_phone_number_on_public_pages(app, make_driver):
    from tests import stats_data as sd

    w = build_world()
    data = sd.dashboard_data(make_driver)  # rides done in 2025, so the public figures have content
    accepted = build_world()  # a booking past acceptance: its numbers are not public either
    db.session.get(Booking, accepted.booking).status = BookingStatus.ACCEPTED_BY_DRIVER
    db.session.commit()
    phones = [*w.phones.values(), *accepted.phones.values(), *(p.phone for p in data["passengers"]),
              *(d.phone for d in data["drivers"])]
    client = app.test_client()
    for url in PUBLIC_PAGES:
        r = client.get(url)
        assert r.status_code in (200, 302, 404), (url, r.status_code)
        html = r.get_data(as_text=True)
        leaked = [p for p in phones if shows_phone(html, p)]
        assert not leaked, (url, leaked)
    assert "Trajets effectués" in client.get("/chiffres-cles?annee=2025").get_data(as_text=True)


STATS_PAGES = ["/statistiques/", "/statistiques/carte", "/statistiques/carte.json",
               "/statistiques/lignes-virtuelles", "/statistiques/exports",
               "/statistiques/exports/demandes.csv", "/statistiques/exports/reservations.csv",
               "/statistiques/exports/trajets.csv"]


@pytest.mark.parametrize("role", ["operator", "admin"])
def test_statistics_show_no_phone_number(app, make_driver, role):
    from tests import stats_data as sd

    w = build_world()
    data = sd.dashboard_data(make_driver)
    phones = [*w.phones.values(), *(p.phone for p in data["passengers"]), *(d.phone for d in data["drivers"])]
    client = client_as(app, w, role)
    period = "?du=2025-01-01&au=2025-03-31"
    for url in STATS_PAGES:
        r = client.get(url + period)
        assert r.status_code == 200, (url, r.status_code)
        body = r.get_data(as_text=True)
        leaked = [p for p in phones if shows_phone(body, p)]
        assert not leaked, (url, leaked)
    csv = client.get("/statistiques/exports/trajets.csv" + period).get_data(as_text=True)
    assert len(csv.splitlines()) == 1 + 3  # the three rides of the period are there, pseudonymised
    if role == "admin":  # the full export, for admins, is the one place with names and numbers
        full = client.post("/statistiques/exports/trajets/complet", data={
            "du": "2025-01-01", "au": "2025-03-31", "motif": "Contrôle du financeur",
            "csrf_token": csrf_for(client, role)}).get_data(as_text=True)
        assert shows_phone(full, data["passengers"][0].phone)
