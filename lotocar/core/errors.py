"""The JSON error body shared by the API and the app-wide guards (an edge below every
feature): `{"error": {"code", "message" (French), "fields": {…}}}`."""
from __future__ import annotations

from typing import Any

from flask import jsonify, request

# status → (code, French message) for errors raised by HTTP machinery
HTTP_ERRORS: dict[int, tuple[str, str]] = {
    400: ("bad_request", "La requête n'a pas pu être comprise."),
    401: ("unauthorized", "Authentification requise : en-tête « Authorization: Bearer <jeton> »."),
    403: ("forbidden", "Ce jeton ne donne pas accès à l'API (réservée aux opérateurs)."),
    404: ("not_found", "Cette adresse n'existe pas dans l'API."),
    405: ("method_not_allowed", "Cette méthode n'est pas possible sur cette adresse."),
    409: ("conflict", "Conflit avec l'état actuel des données."),
    413: ("payload_too_large", "Le corps de la requête est trop volumineux."),
    415: ("unsupported_media_type", "Envoyez du JSON (Content-Type: application/json)."),
    422: ("validation_error", "Certains champs ne sont pas valides."),
    429: ("too_many_requests", "Trop de requêtes : patientez puis réessayez."),
    500: ("server_error", "Erreur interne du service. Réessayez ou prévenez l'équipe Lot'ôcar."),
    503: ("busy", "Le service est momentanément occupé : réessayez dans un instant."),
}

def error_response(status: int, code: str | None = None, message: str | None = None,
                   fields: dict[str, str] | None = None, headers: dict[str, str] | None = None,
                   **extra: Any):
    default_code, default_message = HTTP_ERRORS.get(status, ("error", "Erreur."))
    body: dict[str, Any] = {"code": code or default_code, "message": message or default_message,
                            "fields": fields or {}}
    body.update(extra)
    response = jsonify({"error": body})
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="lotocar-api"'
    if status == 405:
        allowed = getattr(request.routing_exception, "valid_methods", None)
        if allowed:
            response.headers["Allow"] = ", ".join(sorted(allowed))
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response
