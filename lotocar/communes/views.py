from __future__ import annotations

from flask import Blueprint, jsonify, request

from lotocar.communes import operations
from lotocar.communes.search import Match

bp = Blueprint("communes", __name__, url_prefix="/communes")


def place_json(place: operations.Place, match: Match | None = None) -> dict:
    """A place for the autocomplete: its label, where it is ("hors Lot (19)"), its point."""
    commune = place.commune
    if place.former is not None:
        detail = f"ancienne commune, {commune.name}"
    elif commune.in_lot:
        detail = commune.epci_name
    else:
        detail = f"hors Lot · {commune.departement_name}"
    data = {
        "insee": commune.insee, "name": commune.name, "postcode": commune.postcode,
        "label": place.label(), "population": commune.population,
        "epci": commune.epci_name, "departement": commune.departement, "in_lot": commune.in_lot,
        "detail": detail, "lat": place.lat, "lon": place.lon,
        "former": ({"insee": place.former.former_insee, "name": place.former.name}
                   if place.former else None),
    }
    if match is not None:
        data["match"] = match.how
        data["score"] = round(match.score, 1)
    return data


@bp.get("/autocomplete")
def autocomplete():
    q = request.args.get("q", "")[:100]
    try:
        limit = max(1, min(int(request.args.get("limit", 8)), 20))
    except ValueError:
        limit = 8
    lot_only = request.args.get("scope") == "lot"
    return jsonify([place_json(p, m) for p, m in operations.find(q, limit=limit, lot_only=lot_only)])


@bp.get("/lookup")
def lookup():
    q = request.args.get("q", "")[:100]
    if not q.strip():
        return jsonify({"error": {"code": "missing_query", "message": "Indiquez une commune.",
                                  "fields": {"q": "Champ obligatoire."}}}), 400
    found = operations.find(q, limit=5)
    if not found:
        return jsonify({"error": {"code": "not_found",
                                  "message": f"Aucune commune du Lot ni des environs ne correspond à « {q} ».",
                                  "fields": {"q": "Commune inconnue."}}}), 404
    best, match = found[0]
    return jsonify({"commune": place_json(best, match),
                    "alternatives": [place_json(p, m) for p, m in found[1:]]})
