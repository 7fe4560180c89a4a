"""The suggested amount of a ride: pure arithmetic on the service settings (no I/O)."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal


@dataclass(frozen=True)
class Settings:
    enabled: bool = True
    eur_per_km: float = 0.10
    min_eur: float = 1.0
    max_eur: float = 10.0
    rounding_eur: float = 0.50

    @classmethod
    def from_config(cls, config: Mapping[str, object]) -> Settings:
        return cls(
            enabled=bool(config.get("CONTRIBUTION_ENABLED", True)),
            eur_per_km=float(config.get("CONTRIBUTION_EUR_PER_KM", 0.10)),
            min_eur=float(config.get("CONTRIBUTION_MIN_EUR", 1.0)),
            max_eur=float(config.get("CONTRIBUTION_MAX_EUR", 10.0)),
            rounding_eur=float(config.get("CONTRIBUTION_ROUNDING_EUR", 0.50)),
        )


def amount_cents(km: float, settings: Settings) -> int:
    """km × rate, rounded to the nearest step (half up), then kept within [min, max].

    0 when the service suggests nothing, or for a ride of no length."""
    if not settings.enabled or not km or km <= 0 or settings.eur_per_km <= 0:
        return 0
    raw = Decimal(str(km)) * Decimal(str(settings.eur_per_km))
    step = Decimal(str(settings.rounding_eur))
    if step > 0:
        raw = (raw / step).to_integral_value(rounding=ROUND_HALF_UP) * step
    low, high = Decimal(str(settings.min_eur)), Decimal(str(settings.max_eur))
    if high >= low > 0:
        raw = min(max(raw, low), high)
    elif high > 0:
        raw = min(raw, high)
    return int((raw * 100).to_integral_value(rounding=ROUND_HALF_UP))


def euros(cents: int) -> float:
    """Cents as a number of euros with 2 decimals (the API's `contribution_eur`)."""
    return round(cents / 100.0, 2)


def format_eur(cents: int) -> str:
    """'2,50 €' (French notation)."""
    whole, rest = divmod(int(cents), 100)
    return f"{whole},{rest:02d} €"
