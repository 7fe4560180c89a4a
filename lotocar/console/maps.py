"""What the request page's map draws, as plain data: the communes around the trip (names and
points, the map's own background when tiles cannot be loaded) and, for every candidate, the
stops of the run in order with the words the legend says ("Prise en charge d’Odette")."""
from __future__ import annotations

from lotocar.communes import nearby
from lotocar.requests.models import TripRequest

VOWELS = set("AEIOUYÀÂÄÉÈÊËÎÏÔÖÙÛÜHaeiouyàâäéèêëîïôöùûüh")


def of(name: str) -> str:
    """French "de" before a first name: "de Nathalie", "d’Odette", "d’Hélène"."""
    return f"d’{name}" if name[:1] in VOWELS else f"de {name}"


def tour_stops(candidate: dict) -> list[dict]:
    """The run in stop order: the driver's start, each pickup and drop-off, his arrival."""
    driver = candidate["driver_first_name"]
    start, _, end = candidate["trip"].partition(" → ")
    route = candidate["route"]
    stops = [{"label": f"Départ {of(driver)}", "place": start, "at": candidate["departure_at"][11:16],
              "lat": route[0][0], "lon": route[0][1], "kind": "start"}]
    for stop in candidate["stops"]:
        words = "Prise en charge" if stop["kind"] == "pickup" else "Dépose"
        stops.append({"label": f"{words} {of(stop['passenger_first_name'])}", "place": stop["commune"],
                      "at": stop["at"][11:16], "lat": stop["lat"], "lon": stop["lon"], "kind": stop["kind"],
                      "this_request": stop["booking_id"] is None})
    stops.append({"label": f"Arrivée {of(driver)}", "place": end, "at": None,
                  "lat": route[-1][0], "lon": route[-1][1], "kind": "end"})
    return stops


def request_map(trip: TripRequest, found: dict | None) -> dict:
    """Data for the request page's map (`data-map`): communes around, candidates' tours."""
    candidates = found["candidates"] if found else []
    points = [trip.point("origin"), trip.point("destination")]
    points += [tuple(p) for c in candidates for p in c["route"]]
    return {
        "passenger": trip.passenger.first_name,
        "pickup_label": f"Prise en charge {of(trip.passenger.first_name)}",
        "dropoff_label": f"Dépose {of(trip.passenger.first_name)}",
        "origin": trip.origin.display_name, "destination": trip.destination.display_name,
        "communes": [[c["name"], c["lat"], c["lon"]] for c in nearby.around(points)],
        "tours": [{"driver": c["driver_first_name"], "stops": tour_stops(c)} for c in candidates],
    }
