"""Statistics pages (operators and admins), CSV exports, the public figures page, `flask stats`."""
from __future__ import annotations

import json
from typing import Any

import click
from flask import Blueprint, Response, jsonify, render_template, request, url_for
from flask_login import current_user

from lotocar.audit import operations as audit
from lotocar.auth.decorators import roles_required
from lotocar.auth.models import Role
from lotocar.extensions import db
from lotocar.requests.operations import REASONS_FR
from lotocar.stats import exports
from lotocar.stats import lines as corridors
from lotocar.stats import operations as ops
from lotocar.stats.filters import (CAUSES, FilterError, Scope, epci_options, parse_scope,
                                   parse_unmet_filters, parse_year, slugify)

bp = Blueprint("stats", __name__, cli_group="stats")
staff_only = roles_required(Role.OPERATOR, Role.ADMIN)

# DSFR illustrative colours (contrast checked against white).
COLORS = {"served": "#18753c", "unmet": "#ce0500", "pending": "#0063cb", "cancelled": "#929292",
          "main": "#000091", "new": "#009081", "returning": "#a558a0"}


# --- formatting --------------------------------------------------------------------------

@bp.app_template_filter("nombre_fr")
def nombre_fr(value: float | int | None, decimals: int = 0) -> str:
    """1234.5 → '1 234,5' (non-breaking spaces, decimal comma)."""
    if value is None:
        return "—"
    return f"{value:,.{decimals}f}".replace(",", "\u202f").replace(".", ",")


@bp.app_template_filter("pourcent_fr")
def pourcent_fr(value: float | None, decimals: int = 0) -> str:
    return "—" if value is None else f"{nombre_fr(value * 100, decimals)}\u00a0%"


# --- helpers -----------------------------------------------------------------------------

def _form_values(scope: Scope | None) -> dict[str, str]:
    """What the filter form shows: the scope used, or what was typed when it was wrong."""
    values = {k: (request.args.get(k) or "").strip() for k in ("du", "au", "epci", "cause", "motif")}
    if scope is not None:
        values.update(scope.args())
    return values


def _page(template: str, scope: Scope | None, errors: dict[str, str] | None = None, **context: Any):
    status = 400 if errors else 200
    return render_template(template, scope=scope, errors=errors or {}, form=_form_values(scope),
                           epcis=epci_options(), causes=list(CAUSES.items()),
                           motifs=[(r.value, label) for r, label in REASONS_FR.items()], **context), status


def _scope(values=None) -> tuple[Scope | None, dict[str, str]]:
    try:
        return parse_scope(request.args if values is None else values), {}
    except FilterError as exc:
        return None, exc.errors


def _json_error(errors: dict[str, str]):
    return jsonify({"error": {"code": 400, "message": " ".join(errors.values()), "fields": errors}}), 400


def chart(ident: str, title: str, kind: str, labels: list[str], datasets: list[dict[str, Any]],
          **options: Any) -> dict[str, Any]:
    """One chart and its data table, from the same numbers (RGAA: the table is the text
    alternative of the canvas)."""
    return {"id": ident, "title": title, "type": kind, "labels": labels, "datasets": datasets,
            "stacked": options.get("stacked", False), "horizontal": options.get("horizontal", False),
            "first_column": options.get("first_column", ""), "summary": options.get("summary", "")}


def dashboard_charts(data: ops.Dashboard) -> list[dict[str, Any]]:
    months = [m["label"] for m in data.months]
    s = data.summary
    return [
        chart("demandes-par-mois", "Demandes par mois et leur issue", "bar", months,
              [{"label": ops.OUTCOME_LABELS[o], "data": [m[o] for m in data.months], "color": COLORS[o]}
               for o in ops.OUTCOMES], stacked=True, first_column="Mois",
              summary=f"{s.requests} demandes, dont {s.served} servies et {s.unmet} sans solution."),
        chart("trajets-par-mois", "Trajets effectués par mois", "bar", months,
              [{"label": "Trajets effectués", "data": [m["rides"] for m in data.months], "color": COLORS["served"]},
               {"label": "Km partagés", "data": [round(m["km"], 1) for m in data.months], "chart": False,
                "decimals": 1}], first_column="Mois",
              summary=f"{s.rides} trajets effectués, {nombre_fr(s.km_shared)} km partagés."),
        chart("causes", "Pourquoi des demandes restent sans solution", "bar",
              [label for label, _ in data.unmet_causes],
              [{"label": "Demandes sans solution", "data": [n for _, n in data.unmet_causes],
                "color": COLORS["unmet"]}], horizontal=True, first_column="Cause",
              summary=f"{s.unmet} demandes sans solution."),
        chart("motifs", "Motifs de déplacement", "bar", [r["label"] for r in data.reasons],
              [{"label": "Demandes", "data": [r["requests"] for r in data.reasons], "color": COLORS["main"]},
               {"label": "Servies", "data": [r["served"] for r in data.reasons], "color": COLORS["served"]},
               {"label": "Sans solution", "data": [r["unmet"] for r in data.reasons], "color": COLORS["unmet"]}],
              horizontal=True, first_column="Motif"),
        chart("fidelite", "Passagers : première demande ou déjà venus", "doughnut",
              ["Première demande sur la période", "Déjà venus avant la période"],
              [{"label": "Passagers", "data": [data.new_passengers, data.returning_passengers],
                "colors": [COLORS["new"], COLORS["returning"]]}], first_column="Passagers",
              summary=f"{data.new_passengers} nouveaux, {data.returning_passengers} déjà venus."),
    ]


# --- staff pages ----------------------------------------------------------------------------

@bp.get("/statistiques/")
@staff_only
def dashboard():
    scope, errors = _scope()
    if errors:
        return _page("stats/dashboard.html", None, errors, data=None)
    data = ops.dashboard(scope)
    return _page("stats/dashboard.html", scope, data=data, charts=dashboard_charts(data),
                 co2=ops.CO2_FACTOR)


@bp.get("/statistiques/carte")
@staff_only
def unmet_map():
    scope, errors = _scope()
    try:
        cause, motif = parse_unmet_filters(request.args)
    except FilterError as exc:
        errors = {**errors, **exc.errors}
    if errors:
        return _page("stats/map.html", None, errors, data=None)
    data = ops.unmet_map(scope, cause, motif)
    args = {**scope.args(), **{k: v for k, v in (("cause", slugify(cause) if cause else ""),
                                                  ("motif", motif.value if motif else "")) if v}}
    return _page("stats/map.html", scope, data=data, data_url=url_for("stats.map_data", **args))


@bp.get("/statistiques/carte.json")
@staff_only
def map_data():
    try:
        scope = parse_scope(request.args)
        cause, motif = parse_unmet_filters(request.args)
    except FilterError as exc:
        return _json_error(exc.errors)
    return jsonify(ops.unmet_map(scope, cause, motif))


@bp.get("/statistiques/lignes-virtuelles")
@staff_only
def virtual_lines():
    scope, errors = _scope()
    if errors:
        return _page("stats/lines.html", None, errors, lines=None)
    lines = ops.virtual_lines(scope)
    return _page("stats/lines.html", scope, lines=lines, data_url=url_for("stats.map_data", **scope.args()),
                 hour_bands=[label for _, _, label in ops.HOUR_BANDS], budget=corridors.LINE_DETOUR_MIN)


@bp.get("/statistiques/exports")
@staff_only
def exports_page():
    scope, errors = _scope()
    return _page("stats/exports.html", scope, errors, kinds=exports.KINDS)


def _csv(result: exports.Export) -> Response:
    return Response(result.content.encode("utf-8"), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{result.filename}"',
                             "Cache-Control": "no-store"})


def _export_error(errors: dict[str, str]):
    return render_template("error.html", code=400, title="Export impossible",
                           message=" ".join(errors.values())), 400


@bp.get("/statistiques/exports/<any(demandes, reservations, trajets):kind>.csv")
@staff_only
def export_csv(kind: str):
    scope, errors = _scope()
    if errors:
        return _export_error(errors)
    return _csv(exports.export(kind, scope))


@bp.post("/statistiques/exports/<any(demandes, reservations, trajets):kind>/complet")
@roles_required(Role.ADMIN)
def export_full(kind: str):
    """Names and phone numbers included: admins only, with a purpose, in the audit trail."""
    scope, errors = _scope(request.form)
    purpose = (request.form.get("motif") or "").strip()
    if not errors and len(purpose) < 5:
        errors = {"motif": "Indiquez le motif de l'export complet (il est inscrit au journal)."}
    if errors:
        return _export_error(errors)
    result = exports.export(kind, scope, full=True)
    audit.record(current_user.id, "stats_export", 0, "full_export",
                 {"kind": kind, **scope.args(), "rows": result.rows}, reason=purpose[:500])
    db.session.commit()
    return _csv(result)


# --- public page ------------------------------------------------------------------------------

@bp.get("/chiffres-cles")
def public():
    try:
        year = parse_year(request.args.get("annee"))
    except FilterError as exc:
        return render_template("stats/public.html", errors=exc.errors, data=None, charts=[]), 400
    data = ops.public_figures(year)
    charts = [
        chart("trajets-annee", f"Trajets effectués chaque mois en {year}", "bar",
              [m["label"] for m in data["months"]],
              [{"label": "Trajets effectués", "data": [m["rides"] for m in data["months"]],
                "color": COLORS["served"]}], first_column="Mois"),
        chart("motifs-annee", f"Motifs des demandes en {year}", "bar", [r["label"] for r in data["reasons"]],
              [{"label": "Demandes", "data": [r["requests"] for r in data["reasons"]], "color": COLORS["main"]}],
              horizontal=True, first_column="Motif"),
    ]
    return render_template("stats/public.html", errors={}, data=data, charts=charts)


# --- flask stats ------------------------------------------------------------------------------

@bp.cli.command("summary")
@click.option("--du", "start", default="", help="first day, AAAA-MM-JJ (default: 12 months ago)")
@click.option("--au", "end", default="", help="last day, AAAA-MM-JJ")
@click.option("--epci", default="", help="SIREN of an EPCI (default: the whole Lot)")
def summary_command(start: str, end: str, epci: str) -> None:
    """Print the dashboard's figures as JSON."""
    try:
        scope = parse_scope({"du": start, "au": end, "epci": epci})
    except FilterError as exc:
        raise click.UsageError(" ".join(exc.errors.values())) from exc
    click.echo(json.dumps(ops.dashboard(scope).as_json(), ensure_ascii=False, indent=2, default=str))


@bp.cli.command("export")
@click.argument("kind", type=click.Choice(sorted(exports.KINDS)))
@click.option("--du", "start", default="")
@click.option("--au", "end", default="")
@click.option("--epci", default="")
@click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True), default=None,
              help="file to write (default: the export's own name in the current folder)")
def export_command(kind: str, start: str, end: str, epci: str, output: str | None) -> None:
    """Write a pseudonymised CSV export (the full one is only offered to admins on the web)."""
    try:
        scope = parse_scope({"du": start, "au": end, "epci": epci})
    except FilterError as exc:
        raise click.UsageError(" ".join(exc.errors.values())) from exc
    result = exports.export(kind, scope)
    path = output or result.filename
    with open(path, "w", encoding="utf-8", newline="") as fh:
        fh.write(result.content)
    click.echo(f"{result.rows} lignes écrites dans {path}")
