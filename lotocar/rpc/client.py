"""HTTP client of the register's API v3 (`POST /v3/journeys`, `GET /v3/journeys/{id}`)."""
from __future__ import annotations

from dataclasses import dataclass, field

import requests


@dataclass(frozen=True)
class Outcome:
    kind: str  # accepted | refused | retry | unknown | missing
    message: str = ""
    labels: list[str] = field(default_factory=list)


def _error_message(response: requests.Response) -> tuple[str, list[str]]:
    try:
        body = response.json()
    except ValueError:
        return (response.text or f"HTTP {response.status_code}")[:500], []
    error = body.get("error", body) if isinstance(body, dict) else {}
    message = error.get("message") if isinstance(error, dict) else None
    data = error.get("data") if isinstance(error, dict) else None
    labels = []
    if isinstance(data, dict):
        labels = [str(x) for x in data.get("terms_violation_labels") or []]
    elif isinstance(data, str):
        message = f"{message} : {data}" if message else data
    return (str(message or f"HTTP {response.status_code}"))[:500], labels


class RegisterClient:
    def __init__(self, base_url: str, token: str, timeout: float = 10.0,
                 session: requests.Session | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.session = session or requests.Session()

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}

    def send(self, payload: dict) -> Outcome:
        try:
            response = self.session.post(f"{self.base_url}/v3/journeys", json=payload,
                                         headers=self._headers(), timeout=self.timeout)
        except (requests.ConnectionError, requests.ConnectTimeout) as exc:
            if isinstance(exc, requests.ReadTimeout):
                return Outcome("unknown", "pas de réponse du registre (délai dépassé)")
            return Outcome("retry", f"registre injoignable : {type(exc).__name__}")
        except requests.Timeout:
            return Outcome("unknown", "pas de réponse du registre (délai dépassé)")
        except requests.RequestException as exc:
            return Outcome("unknown", f"réponse illisible : {type(exc).__name__}")
        code = response.status_code
        if code in (200, 201):
            return Outcome("accepted")
        if code == 409:
            return Outcome("accepted", "déjà enregistré par le registre")
        if code in (400, 422):
            message, labels = _error_message(response)
            return Outcome("refused", message, labels)
        message, _ = _error_message(response)
        if code in (401, 403):
            return Outcome("retry", f"jeton refusé par le registre (HTTP {code}) : vérifier RPC_TOKEN")
        return Outcome("retry", f"HTTP {code} : {message}")

    def lookup(self, operator_journey_id: str) -> Outcome:
        try:
            response = self.session.get(f"{self.base_url}/v3/journeys/{operator_journey_id}",
                                        headers=self._headers(), timeout=self.timeout)
        except requests.RequestException as exc:
            return Outcome("retry", f"vérification impossible : {type(exc).__name__}")
        if response.status_code == 404:
            return Outcome("missing")
        if response.status_code == 200:
            try:
                body = response.json()
            except ValueError:
                body = {}
            labels = [str(x) for x in (body.get("terms_violation_labels") or [])] if isinstance(body, dict) else []
            if labels:
                return Outcome("refused", "refusé par le registre", labels)
            return Outcome("accepted")
        message, _ = _error_message(response)
        return Outcome("retry", f"HTTP {response.status_code} : {message}")
