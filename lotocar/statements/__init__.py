"""Drivers' monthly statements: rides done, km with passengers, detour km, contributions due;
as a page ("Mon relevé"), a PDF (fpdf2) and a CSV. Layer: with `stats` (above notifications)."""
