"""French wording (issue #14, point 10): numbers with a decimal comma, a request's window worded
as the matcher applies it (arrive by T: [T − F, T]; leave after T: [T, T + F], never "± F"),
a second time on the same day without its date again, and drivers reading words meant for
them on their own page."""
from __future__ import annotations

from datetime import datetime, time, timezone

import pytest

from lotocar.bookings import operations as bookings
from lotocar.core.format_fr import (NBSP, NNBSP, eur_fr, km_fr, number_fr, request_window_fr, then_fr,
                                    window_bounds, window_fr)
from lotocar.core.timeutil import PARIS
from lotocar.extensions import db
from lotocar.requests.models import RequestMode
from tests.conftest import login_as
from tests.factories import MONDAY, luzech_cahors, passenger, trip_request

TUESDAY_9 = datetime(2026, 12, 8, 9, 0, tzinfo=PARIS)


# --- numbers -----------------------------------------------------------------------------

@pytest.mark.parametrize("value, decimals, text", [
    (5.94, 1, "5,9"), (5.96, 1, "6,0"), (12, 0, "12"), (1234.5, 1, f"1{NNBSP}234,5"),
    (0.04, 1, "0,0"), (-0.04, 1, "0,0"), (2.5, 2, "2,50"), (None, 1, "—"),
])
def test_number_fr_uses_a_decimal_comma(value, decimals, text):
    assert number_fr(value, decimals) == text


def test_units_follow_their_number_after_a_no_break_space():
    assert km_fr(5.94) == f"5,9{NBSP}km"
    assert km_fr(22) == f"22,0{NBSP}km"
    assert eur_fr(2.5) == f"2,50{NBSP}€"
    assert "." not in km_fr(1234.56) and km_fr(None) == "—"


# --- a request's window, both modes --------------------------------------------------------

def test_arrive_by_window_is_only_before_the_appointment():
    start, end = window_bounds("arrive_by", TUESDAY_9, 30)
    assert (start.time(), end.time()) == (time(8, 30), time(9, 0))
    text = window_fr("arrive_by", TUESDAY_9, 30)
    assert text == "Arrivée au plus tard le mardi 8 décembre 2026 à 09:00, pas avant 08:30"
    assert "±" not in text and "09:30" not in text
    assert window_fr("arrive_by", TUESDAY_9, 30, with_date=False) == "arrivée entre 08:30 et 09:00"


def test_leave_after_window_is_only_after_the_time():
    start, end = window_bounds(RequestMode.LEAVE_AFTER, TUESDAY_9, 30)
    assert (start.time(), end.time()) == (time(9, 0), time(9, 30))
    text = window_fr(RequestMode.LEAVE_AFTER, TUESDAY_9, 30)
    assert text == "Départ à partir du mardi 8 décembre 2026 à 09:00, au plus tard 09:30"
    assert "Partir à partir" not in text and "08:30" not in text
    assert window_fr("leave_after", TUESDAY_9, 30, with_date=False) == "départ entre 09:00 et 09:30"


def test_window_without_flexibility_and_across_midnight():
    assert window_fr("arrive_by", TUESDAY_9, 0) == "Arrivée au plus tard le mardi 8 décembre 2026 à 09:00"
    assert window_fr("leave_after", TUESDAY_9, 0) == "Départ le mardi 8 décembre 2026 à 09:00"
    assert window_fr("arrive_by", TUESDAY_9, 0, with_date=False) == "arrivée à 09:00 au plus tard"
    just_after_midnight = datetime(2026, 12, 8, 0, 10, tzinfo=PARIS)
    assert window_fr("arrive_by", just_after_midnight, 30).endswith("pas avant 23:40 la veille")
    late = datetime(2026, 12, 8, 23, 50, tzinfo=PARIS)
    assert window_fr("leave_after", late, 30, with_date=False) == "départ entre 23:50 et 00:20 le lendemain"


def test_request_window_reads_the_stored_request(app):
    arrive = trip_request(passenger(), at=time(8, 30), flex=30)
    leave = trip_request(passenger("+33698765433"), at=time(14, 0), flex=45, mode=RequestMode.LEAVE_AFTER)
    assert request_window_fr(arrive).endswith("à 08:30, pas avant 08:00")
    assert request_window_fr(leave).endswith("à 14:00, au plus tard 14:45")
    assert request_window_fr(leave, with_date=False) == "départ entre 14:00 et 14:45"


# --- a second time on the same day ----------------------------------------------------------

def test_then_fr_gives_the_time_alone_on_the_same_day():
    pickup = datetime(2026, 12, 8, 7, 52, tzinfo=timezone.utc)  # 08:52 in Paris
    dropoff = datetime(2026, 12, 8, 8, 17, tzinfo=timezone.utc)
    assert then_fr(dropoff, pickup) == "09:17"
    next_day = datetime(2026, 12, 9, 8, 17, tzinfo=timezone.utc)
    assert then_fr(next_day, pickup) == "mercredi 9 décembre 2026 à 09:17"
    naive_utc = datetime(2026, 12, 8, 8, 17)  # as SQLite gives it back
    assert then_fr(naive_utc, pickup) == "09:17" and then_fr(None, pickup) == ""


# --- pages ---------------------------------------------------------------------------------

def test_drivers_read_words_meant_for_them(client, make_driver):
    """A request proposed to the driver is shown to him as his to answer, in his words, and is
    no longer counted among the requests "the team will call you about"."""
    driver = make_driver("Nathalie", "Rességuier")
    offer = luzech_cahors(driver)
    proposed = trip_request(passenger())
    trip_request(passenger("+33698765433"), origin="46191")  # Mercuès → Cahors, still open
    login_as(client, driver)
    html = client.get("/mes-trajets/").get_data(as_text=True)
    assert 'data-serving="2"' in html  # nothing proposed yet: both count
    bookings.propose(bookings.Proposal(proposed.id, offer.id, MONDAY), None)
    db.session.commit()
    html = client.get("/mes-trajets/").get_data(as_text=True)
    assert "Proposée au conducteur" not in html and "PROPOSÉE" not in html
    assert "On vous a proposé ce passager : répondez" in html
    assert 'data-serving="1"' in html and "1 personne sans voiture pourrait profiter de ce trajet" in html
    assert 'data-proposed-to-me="1"' in html and "1 passager vous a été proposé sur ce trajet" in html


def test_console_pages_word_windows_and_numbers(client, make_driver):
    from lotocar.auth.models import Role
    from lotocar.auth.operations import create_staff

    staff, _ = create_staff("op@lotocar.fr", "Sophie", "Martin", Role.OPERATOR)
    db.session.commit()
    luzech_cahors(make_driver("Nathalie", "Rességuier"))
    arrive = trip_request(passenger(), at=time(8, 30), flex=30)
    leave = trip_request(passenger("+33698765433"), at=time(8, 0), flex=30, mode=RequestMode.LEAVE_AFTER)
    login_as(client, staff)
    page = client.get(f"/console/demandes/{arrive.id}").get_data(as_text=True)
    assert "à 08:30, pas avant 08:00</strong> (souplesse 30 min)" in page
    assert "Partir à partir" not in page and "±" not in page
    # candidates' distances in French notation: "(5,9 km)", never "5.9 km"
    import re
    kms = re.findall(r"(\d+[.,]\d) km", page.replace(NBSP, " "))
    assert kms and all("," in k for k in kms), kms
    page = client.get(f"/console/demandes/{leave.id}").get_data(as_text=True)
    assert "Départ à partir du" in page and "à 08:00, au plus tard 08:30" in page
    form = client.get(f"/console/passagers/{arrive.passenger_id}/demande").get_data(as_text=True)
    assert "Partir après" in form and "Partir à partir" not in form  # the form's choice, in proper French
    queue = client.get("/console/").get_data(as_text=True)
    assert "arrivée entre 08:00 et 08:30" in queue and "départ entre 08:00 et 08:30" in queue
    assert "±" not in queue
