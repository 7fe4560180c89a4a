from __future__ import annotations

from flask import Blueprint, jsonify, request

from lotocar.communes import operations

bp = Blueprint("communes", __name__, url_prefix="/communes")


def _as_json(commune, match=None) -> dict:
    data = {
        "insee": commune.insee, "name": commune.name, "postcode": commune.postcode,
        "label": commune.label(), "population": commune.population,
        "epci": commune.epci_name, "lat": commune.lat, "lon": commune.lon,
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
    return jsonify([_as_json(c, m) for c, m in operations.find(q, limit=limit)])


@bp.get("/lookup")
def lookup():
    q = request.args.get("q", "")[:100]
    if not q.strip():
        return jsonify({"error": {"code": "missing_query", "message": "Indiquez une commune.",
                                  "fields": {"q": "Champ obligatoire."}}}), 400
    found = operations.find(q, limit=5)
    if not found:
        return jsonify({"error": {"code": "not_found", "message": f"Aucune commune du Lot ne correspond à « {q} ».",
                                  "fields": {"q": "Commune inconnue."}}}), 404
    best, match = found[0]
    return jsonify({"commune": _as_json(best, match),
                    "alternatives": [_as_json(c, m) for c, m in found[1:]]})
