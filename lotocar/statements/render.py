"""A statement as text (CLI), CSV (spreadsheets) and PDF (fpdf2, A4, core fonts)."""
from __future__ import annotations

import csv
import io
from functools import lru_cache
from typing import TYPE_CHECKING

from lotocar.contributions.pricing import format_eur
from lotocar.core.clock import today_local
from lotocar.core.timeutil import format_date_fr
from lotocar.statements.operations import Statement

if TYPE_CHECKING:
    from fpdf import FPDF


def _km(value: float) -> str:
    return f"{value:.1f}".replace(".", ",")


def _cents(cents: int) -> str:
    return f"{cents // 100},{cents % 100:02d}"


def _safe(text: str) -> str:
    """Defuse spreadsheet formulas in free text."""
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def filename(st: Statement, ext: str) -> str:
    return f"lotocar-releve-{st.month.key}-conducteur-{st.driver_id}.{ext}"


def to_csv(st: Statement) -> str:
    out = io.StringIO()
    out.write("\ufeff")
    w = csv.writer(out, delimiter=";", lineterminator="\r\n")
    w.writerow(["date", "depart", "de", "a", "passagers", "km_avec_passagers", "km_detour", "participation_eur"])
    for r in st.rides:
        w.writerow([r.day.isoformat(), r.departure.strftime("%H:%M") if r.departure else "", _safe(r.origin),
                    _safe(r.destination), _safe(", ".join(r.passengers)), _km(r.km_with_passengers),
                    _km(r.detour_km), _cents(r.contribution_cents)])
    w.writerow(["total", "", "", "", st.passengers, _km(st.km_with_passengers), _km(st.detour_km),
                _cents(st.contributions_cents)])
    return out.getvalue()


def to_text(st: Statement) -> str:
    lines = [f"Relevé de {st.month.label_fr} - {st.driver_name} ({st.driver_commune}), conducteur n° {st.driver_id}"]
    if not st.rides:
        lines.append("  Aucun trajet effectué ce mois-ci.")
    for r in st.rides:
        hour = r.departure.strftime("%H:%M") if r.departure else "--:--"
        lines.append(f"  {r.day.isoformat()} {hour}  {r.origin} -> {r.destination}  "
                     f"[{', '.join(r.passengers)}]  {_km(r.km_with_passengers)} km avec passagers, "
                     f"{_km(r.detour_km)} km de détour, {format_eur(r.contribution_cents)}")
    lines.append(f"  Total : {len(st.rides)} trajet(s), {st.passengers} passager(s), "
                 f"{_km(st.km_with_passengers)} km avec passagers, {_km(st.detour_km)} km de détour, "
                 f"participations dues {format_eur(st.contributions_cents)}")
    return "\n".join(lines)


@lru_cache(maxsize=1)
def _pdf_class() -> type[FPDF]:
    """The statement's PDF document class. fpdf2 is imported here, deliberately, on the first
    PDF rendered (a driver's download, `flask statements`): with the fontTools and Pillow it
    pulls in it is ~17 MB resident, which every gunicorn worker would otherwise carry from
    start-up (issue #13: <= 150 MB per worker) for a page asked for once a month."""
    from fpdf import FPDF

    class _Pdf(FPDF):
        def footer(self) -> None:
            self.set_y(-14)
            self.set_font("helvetica", size=8)
            self.set_text_color(90, 90, 90)
            self.cell(0, 6, f"Lot'ôcar, covoiturage solidaire du Lot - page {self.page_no()}/{{nb}}", align="C")

    return _Pdf


COLUMNS = [("Date", 24), ("Trajet", 58), ("Passagers", 38), ("km passagers", 24),
           ("km détour", 20), ("Participation", 26)]


def to_pdf(st: Statement, operator_phone: str = "") -> bytes:
    pdf = _pdf_class()(orientation="P", unit="mm", format="A4")
    pdf.core_fonts_encoding = "windows-1252"  # é, è, ô, € in the standard fonts
    pdf.set_title(f"Relevé Lot'ôcar {st.month.key} - {st.driver_name}")
    pdf.set_author("Lot'ôcar")
    pdf.set_creator("Lot'ôcar")
    pdf.set_auto_page_break(auto=True, margin=18)
    pdf.add_page()
    pdf.set_font("helvetica", "B", 18)
    pdf.set_text_color(0, 0, 145)
    pdf.cell(0, 10, "Lot'ôcar - Relevé de trajets", new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(0, 0, 0)
    pdf.set_font("helvetica", size=12)
    pdf.cell(0, 7, f"Mois : {st.month.label_fr}", new_x="LMARGIN", new_y="NEXT")
    pdf.cell(0, 7, f"Conducteur : {st.driver_name} ({st.driver_commune}) - n° {st.driver_id}",
             new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)

    pdf.set_font("helvetica", "B", 9)
    pdf.set_fill_color(230, 230, 245)
    for title, width in COLUMNS:
        pdf.cell(width, 8, title, border=1, align="C", fill=True)
    pdf.ln(8)
    pdf.set_font("helvetica", size=10)
    if not st.rides:
        pdf.cell(sum(w for _t, w in COLUMNS), 8, "Aucun trajet effectué ce mois-ci.", border=1,
                 new_x="LMARGIN", new_y="NEXT")
    for ride in st.rides:
        hour = ride.departure.strftime("%H:%M") if ride.departure else ""
        cells = [f"{ride.day:%d/%m} {hour}", f"{ride.origin} - {ride.destination}", ", ".join(ride.passengers),
                 _km(ride.km_with_passengers), _km(ride.detour_km),
                 format_eur(ride.contribution_cents) if ride.contribution_cents else "gratuit"]
        if pdf.get_y() > pdf.h - 30:
            pdf.add_page()
        for (title, width), value in zip(COLUMNS, cells):
            align = "R" if title.startswith(("km", "Participation")) else "L"
            text = value if pdf.get_string_width(value) < width - 2 else _fit(pdf, value, width - 2)
            pdf.cell(width, 7, text, border=1, align=align)
        pdf.ln(7)
    pdf.set_font("helvetica", "B", 10)
    widths = [w for _t, w in COLUMNS]
    total = [(f"Total : {len(st.rides)} trajet(s)", widths[0] + widths[1], "L"),
             (f"{st.passengers} passager(s)", widths[2], "L"), (_km(st.km_with_passengers), widths[3], "R"),
             (_km(st.detour_km), widths[4], "R"), (format_eur(st.contributions_cents), widths[5], "R")]
    for value, width, align in total:
        pdf.cell(width, 8, value, border=1, align=align)
    pdf.ln(12)
    pdf.set_font("helvetica", size=9)
    pdf.multi_cell(0, 5, (
        "Participations suggérées par le service et versées directement par les passagers au conducteur : "
        "un partage des frais du trajet, sans bénéfice (covoiturage). Un trajet gratuit (choix du conducteur "
        "ou passager exonéré) figure comme « gratuit ». km avec passagers : distance parcourue avec au moins un "
        "passager à bord ; km de détour : distance ajoutée au trajet prévu pour les prendre."))
    pdf.ln(2)
    contact = f" Questions : {operator_phone}." if operator_phone else ""
    pdf.multi_cell(0, 5, f"Édité le {format_date_fr(today_local())}.{contact}")
    return bytes(pdf.output())


def _fit(pdf: FPDF, text: str, width: float) -> str:
    while text and pdf.get_string_width(text + "...") > width:
        text = text[:-1]
    return text + "..."
