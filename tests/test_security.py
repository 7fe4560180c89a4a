"""Security headers, cookies, rate limits and the Content-Security-Policy in a real browser.

- every kind of response (HTML page, redirect, JSON, API error, static file, npm asset, CSV,
  error pages 400/403/404/405/429/500) carries nosniff, DENY, a Referrer-Policy and the CSP;
  HSTS only with APP_ENV=production;
- session and "remember me" cookies: HttpOnly, SameSite=Lax, Secure in production;
- rate limits (CODE_SEND_LIMIT, LOGIN_LIMIT): the staff password login, the code checks of
  login and sign-up, and code sending at sign-up answer 429 past the configured limit, per
  client address (/connexion is in tests/test_auth.py);
- the templates hold nothing the CSP would block (inline scripts, event handler attributes,
  javascript: links), and Chromium reports no CSP violation on the drivers' pages, the
  console (Leaflet map) and the statistics (Chart.js, Leaflet).
"""
from __future__ import annotations

import re
from http.cookies import SimpleCookie
from pathlib import Path
from types import SimpleNamespace

import pytest
from limits import parse_many

from lotocar.auth.models import PhoneCode, Role, User
from lotocar.auth.operations import create_staff
from lotocar.extensions import db
from tests.conftest import csrf_token, last_code, login_as
from tests.test_access import build_world
from tests.browser_support import DESKTOP, PHONE

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "motdepasse-solide-46"


# --- headers -------------------------------------------------------------------------------------

def csp_directives(header: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for part in header.split(";"):
        words = part.split()
        if words:
            out[words[0].lower()] = words[1:]
    return out


def assert_security_headers(response, production: bool = False) -> None:
    h = response.headers
    where = f"{response.request.method} {response.request.path} → {response.status_code}"
    assert h.get("X-Content-Type-Options") == "nosniff", where
    assert h.get("X-Frame-Options") == "DENY", where
    assert h.get("Referrer-Policy") in {"same-origin", "strict-origin-when-cross-origin", "no-referrer"}, where
    csp = csp_directives(h.get("Content-Security-Policy", ""))
    assert csp.get("default-src") == ["'self'"], where
    script = csp.get("script-src", csp["default-src"])
    assert not {"'unsafe-inline'", "'unsafe-eval'", "*", "data:", "http:", "https:"} & set(script), where
    assert csp.get("frame-ancestors") == ["'none'"], where
    assert csp.get("form-action") == ["'self'"], where
    assert csp.get("object-src") == ["'none'"] and csp.get("base-uri") == ["'none'"], where
    if production:
        hsts = h.get("Strict-Transport-Security", "")
        assert int(re.search(r"max-age=(\d+)", hsts).group(1)) >= 31536000 and "includeSubDomains" in hsts, where
    else:
        assert "Strict-Transport-Security" not in h, where


def _crash():
    raise RuntimeError("boom")


def response_kinds(app, client) -> dict[str, object]:
    """One response of each kind the app sends, with what makes it that kind checked."""
    with app.app_context():  # only around this: requests must run in their own contexts
        op, _ = create_staff(f"op-{app.config['APP_ENV']}@lotocar.fr", "Sophie", "Martin", Role.OPERATOR,
                             password=PASSWORD)
        db.session.commit()
        op = SimpleNamespace(id=op.id)
    out = {}
    out["html page"] = r = client.get("/connexion")
    assert r.status_code == 200 and r.mimetype == "text/html"
    out["redirect"] = r = client.get("/console/")
    assert r.status_code == 302
    out["json"] = r = client.get("/communes/autocomplete?q=cahors")
    assert r.mimetype == "application/json"
    out["healthz"] = client.get("/healthz")
    out["openapi"] = client.get("/api/openapi.json")
    out["api error"] = r = client.get("/api/v1/communes?q=cahors")
    assert r.status_code == 401 and r.mimetype == "application/json"
    out["static file"] = r = client.get("/static/css/app.css")
    assert r.status_code == 200 and r.mimetype == "text/css"
    out["dsfr asset"] = r = client.get("/assets/dsfr/dsfr.min.css")
    assert r.status_code == 200
    out["npm asset"] = r = client.get("/assets/chartjs/chart.umd.min.js")
    assert r.status_code == 200 and "javascript" in r.mimetype
    out["404 page"] = r = client.get("/nulle-part")
    assert r.status_code == 404 and r.mimetype == "text/html"
    out["404 json"] = r = client.get("/communes/nulle-part")
    assert r.status_code == 404 and r.mimetype == "application/json"
    out["405 page"] = r = client.get("/deconnexion")
    assert r.status_code == 405
    out["400 csrf"] = r = client.post("/connexion", data={"phone": "0612345678"})
    assert r.status_code == 400
    out["webhook 403"] = r = client.post("/sms/webhooks/inbound", data={"Body": "OUI"})
    assert r.status_code == 403
    other = app.test_client()
    token = csrf_token(other, "/connexion/equipe")
    for _ in range(parse_many(app.config["LOGIN_LIMIT"])[0].amount + 1):
        r = other.post("/connexion/equipe", data={"email": "x@y.fr", "password": "x", "csrf_token": token})
    out["429 page"] = r
    assert r.status_code == 429
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(app.view_functions, "main.healthz", _crash)
        mp.setitem(app.config, "PROPAGATE_EXCEPTIONS", False)
        out["500 page"] = r = client.get("/healthz", headers={"Accept": "text/html"})
    assert r.status_code == 500 and "boom" not in r.get_data(as_text=True)
    login_as(client, op)
    out["staff page"] = r = client.get("/console/")
    assert r.status_code == 200
    out["403 page"] = r = client.get("/mes-trajets/")
    assert r.status_code == 403
    out["csv export"] = r = client.get("/statistiques/exports/demandes.csv")
    assert r.status_code == 200 and r.mimetype == "text/csv"
    out["json (staff)"] = r = client.get("/statistiques/carte.json")
    assert r.status_code == 200
    return out


def test_headers_on_every_kind_of_response(app, client):
    for name, response in response_kinds(app, client).items():
        assert_security_headers(response, production=False)


@pytest.fixture
def production_app(app, monkeypatch, database_url):
    """The app as configured by the environment with APP_ENV=production, on the test database."""
    from lotocar import create_app

    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "production-test-secret")
    monkeypatch.setenv("DATABASE_URL", database_url)
    for var in ("SESSION_COOKIE_SECURE", "SMS_GATEWAY", "TWILIO_ACCOUNT_SID"):
        monkeypatch.delenv(var, raising=False)
    prod = create_app({"RATELIMIT_STORAGE_URI": "memory://"})
    assert prod.config["APP_ENV"] == "production" and not prod.config["TESTING"]
    yield prod
    with prod.app_context():
        db.session.remove()
        db.engine.dispose()


def test_headers_in_production(production_app):
    responses = response_kinds(production_app, production_app.test_client())
    for name, response in responses.items():
        assert_security_headers(response, production=True)


# --- cookies -------------------------------------------------------------------------------------

def set_cookies(response) -> dict[str, SimpleCookie]:
    out = {}
    for header in response.headers.getlist("Set-Cookie"):
        cookie = SimpleCookie()
        cookie.load(header)
        for name, morsel in cookie.items():
            out[name] = (morsel, header)
    return out


def assert_cookie_flags(header: str, secure: bool) -> None:
    attrs = {a.strip().split("=")[0].lower(): a.strip() for a in header.split(";")[1:]}
    assert "httponly" in attrs, header
    assert attrs.get("samesite", "").lower() == "samesite=lax", header
    assert ("secure" in attrs) is secure, header


def _driver_login(client, sms, phone: str):
    r = client.post("/connexion", data={"phone": phone, "csrf_token": csrf_token(client)})
    assert r.status_code == 302, r.get_data(as_text=True)[:500]
    return client.post("/connexion/code", data={"code": last_code(sms, phone), "csrf_token": csrf_token(client)})


@pytest.mark.parametrize("env", ["testing", "production"])
def test_session_and_remember_cookies(request, app, make_driver, env):
    target = request.getfixturevalue("production_app") if env == "production" else app
    production = env == "production"
    client = target.test_client()
    first = client.get("/connexion")
    session_header = set_cookies(first)["session"][1]
    assert_cookie_flags(session_header, secure=production)
    user = make_driver(phone="+33612340999")
    r = _driver_login(client, target.extensions["sms_gateway"], user.phone)
    assert r.status_code == 302 and r.headers["Location"].endswith("/mes-trajets/")
    cookies = set_cookies(r)
    assert {"session", "remember_token"} <= cookies.keys()
    for name in ("session", "remember_token"):
        assert_cookie_flags(cookies[name][1], secure=production)


# --- open redirects after login -----------------------------------------------------------------

@pytest.mark.parametrize("nxt", ["//evil.example/x", "https://evil.example", "/%09/evil.example",
                                 "/%5Cevil.example", "/%0A/evil.example", "%2F%2Fevil.example", "javascript:alert(1)"])
def test_login_never_redirects_to_another_site(app, client, nxt):
    create_staff("op@lotocar.fr", "Sophie", "Martin", Role.OPERATOR, password=PASSWORD)
    db.session.commit()
    r = client.post(f"/connexion/equipe?next={nxt}", data={
        "email": "op@lotocar.fr", "password": PASSWORD, "csrf_token": csrf_token(client, "/connexion/equipe")})
    assert r.status_code == 302 and r.headers["Location"] == "/", r.headers["Location"]


def test_login_goes_back_to_the_page_asked(app, client):
    create_staff("op@lotocar.fr", "Sophie", "Martin", Role.OPERATOR, password=PASSWORD)
    db.session.commit()
    r = client.post("/connexion/equipe?next=/statistiques/%3Fdu%3D2025-01-01", data={
        "email": "op@lotocar.fr", "password": PASSWORD, "csrf_token": csrf_token(client, "/connexion/equipe")})
    assert r.headers["Location"] == "/statistiques/?du=2025-01-01"


# --- rate limits ---------------------------------------------------------------------------------

def first_limit(app, name: str) -> int:
    return parse_many(app.config[name])[0].amount


def test_staff_password_login_rate_limited(app, client):
    """LOGIN_LIMIT wrong passwords from one address: the next try gets 429, even with the
    right password; another address is not affected; showing the form is never limited."""
    create_staff("op@lotocar.fr", "Sophie", "Martin", Role.OPERATOR, password=PASSWORD)
    db.session.commit()
    token = csrf_token(client, "/connexion/equipe")
    limit = first_limit(app, "LOGIN_LIMIT")
    for i in range(limit):
        r = client.post("/connexion/equipe", data={"email": "op@lotocar.fr", "password": f"devine-{i}",
                                                   "csrf_token": token})
        assert r.status_code == 400, i
    r = client.post("/connexion/equipe", data={"email": "op@lotocar.fr", "password": PASSWORD, "csrf_token": token})
    assert r.status_code == 429 and "Trop de tentatives" in r.get_data(as_text=True)
    assert client.get("/connexion/equipe").status_code == 200
    elsewhere = app.test_client()
    r = elsewhere.post("/connexion/equipe", data={"email": "op@lotocar.fr", "password": PASSWORD,
                                                  "csrf_token": csrf_token(elsewhere, "/connexion/equipe")},
                       environ_base={"REMOTE_ADDR": "192.0.2.7"})
    assert r.status_code == 302


def test_login_code_checking_rate_limited(app, client, sms, make_driver):
    """Guessing the 6-digit login code: LOGIN_LIMIT tries per address, then 429 (the code
    itself is burnt after OTP_MAX_ATTEMPTS, across addresses)."""
    user = make_driver(phone="+33612340888")
    client.post("/connexion", data={"phone": user.phone, "csrf_token": csrf_token(client)})
    code = last_code(sms, user.phone)
    wrong = "000000" if code != "000000" else "111111"
    token = csrf_token(client, "/connexion/code")
    limit = first_limit(app, "LOGIN_LIMIT")
    for i in range(limit):
        assert client.post("/connexion/code", data={"code": wrong, "csrf_token": token}).status_code == 400, i
    r = client.post("/connexion/code", data={"code": code, "csrf_token": token})
    assert r.status_code == 429
    assert client.get("/mes-trajets/").status_code == 302  # not logged in


def test_signup_code_checking_rate_limited(app, client, sms):
    r = client.post("/inscription", data={"first_name": "Jeanne", "last_name": "Delpech", "phone": "06 12 34 07 77",
                                          "home": "Luzech (46140)", "consent_contact": "y",
                                          "csrf_token": csrf_token(client, "/inscription")})
    assert r.status_code == 302
    token = csrf_token(client, "/inscription/code")
    limit = first_limit(app, "LOGIN_LIMIT")
    for i in range(limit):
        assert client.post("/inscription/code", data={"code": "000000", "csrf_token": token}).status_code in (302, 400)
    r = client.post("/inscription/code", data={"code": last_code(sms, "+33612340777"), "csrf_token": token})
    assert r.status_code == 429


def test_signup_code_sending_rate_limited(app, client, sms):
    """CODE_SEND_LIMIT sign-ups (each sends an SMS) from one address, then 429 — whatever the
    numbers; resending a code is limited the same way."""
    limit = first_limit(app, "CODE_SEND_LIMIT")
    token = csrf_token(client, "/inscription")
    for i in range(limit):
        r = client.post("/inscription", data={"first_name": "Jeanne", "last_name": f"D{i}",
                                              "phone": f"06 12 34 06 {i:02d}", "home": "Luzech (46140)",
                                              "consent_contact": "y", "csrf_token": token})
        assert r.status_code == 302, i
    sent = len(sms.sent)
    r = client.post("/inscription", data={"first_name": "Jeanne", "last_name": "Z", "phone": "06 12 34 06 99",
                                          "home": "Luzech (46140)", "consent_contact": "y", "csrf_token": token})
    assert r.status_code == 429 and len(sms.sent) == sent
    assert db.session.scalar(db.select(db.func.count()).select_from(PhoneCode)) == limit
    # "send me a new code", from the session of the last sign-up
    for i in range(limit):
        assert client.post("/inscription/renvoyer", data={"csrf_token": token}).status_code == 302, i
    assert client.post("/inscription/renvoyer", data={"csrf_token": token}).status_code == 429


def test_limits_come_from_the_configuration(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "LOGIN_LIMIT", "2 per minute")
    token = csrf_token(client, "/connexion/equipe")
    statuses = [client.post("/connexion/equipe", data={"email": "a@b.fr", "password": "x" * 10,
                                                       "csrf_token": token}).status_code for _ in range(3)]
    assert statuses == [400, 400, 429]


# --- what the CSP allows, checked in the templates ----------------------------------------------

def test_templates_hold_nothing_the_csp_blocks(app):
    """script-src 'self': no inline <script>, no on…= handlers, no javascript: URLs. Inline
    styles only while style-src allows them."""
    csp = csp_directives(app.test_client().get("/").headers["Content-Security-Policy"])
    inline_styles_ok = "'unsafe-inline'" in csp.get("style-src", csp["default-src"])
    problems = []
    for path in sorted((ROOT / "templates").rglob("*.html")):
        text = path.read_text(encoding="utf-8")
        name = path.relative_to(ROOT)
        for tag in re.findall(r"<script\b[^>]*>", text, re.I):
            if "src=" not in tag:
                problems.append(f"{name}: inline script {tag}")
        for handler in re.findall(r"<[^>]*\s(on[a-z]+)\s*=", text, re.I):
            problems.append(f"{name}: event handler attribute {handler}")
        if re.search(r"javascript:", text, re.I):
            problems.append(f"{name}: javascript: URL")
        if not inline_styles_ok and re.search(r"<style\b|\sstyle\s*=", text, re.I):
            problems.append(f"{name}: inline style")
    assert not problems, "\n".join(problems)


# --- the CSP in a real browser -------------------------------------------------------------------

LISTEN = """
window.__csp = [];
document.addEventListener('securitypolicyviolation', function (e) {
  window.__csp.push(e.violatedDirective + ' ' + (e.blockedURI || 'inline') + ' at ' + e.sourceFile + ':' + e.lineNumber);
});
"""


def _cookie_for(app, user) -> str:
    client = app.test_client()
    login_as(client, user)
    return client.get_cookie("session").value


class CspWatch:
    """A browser page that records CSP violations (DOM events and console reports)."""

    def __init__(self, browser, live_server, app, user=None, viewport=DESKTOP):  # noqa: F811
        self.live_server = live_server
        self.context = browser.new_context(viewport=viewport, locale="fr-FR", timezone_id="Europe/Paris")
        if user is not None:
            self.context.add_cookies([{"name": "session", "value": _cookie_for(app, user), "url": live_server}])
        self.context.add_init_script(LISTEN)
        self.page = self.context.new_page()
        self.violations: list[str] = []
        self.errors: list[str] = []
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        # no network here: tiles and anything off the site are refused (not a CSP matter)
        self.page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(live_server)
                        else route.abort())

    def _console(self, msg) -> None:
        text = msg.text
        if "Content Security Policy" in text or "Content-Security-Policy" in text:
            self.violations.append(f"console: {text}")

    def visit(self, path: str, ready: str | None = None, status: int = 200) -> None:
        response = self.page.goto(self.live_server + path)
        assert response.status == status, (path, response.status)
        if ready:
            self.page.wait_for_selector(ready, state="attached")
        self.page.wait_for_load_state("networkidle")
        self.collect(path)

    def collect(self, where: str) -> None:
        found = self.page.evaluate("window.__csp || []")
        self.violations.extend(f"{where}: {v}" for v in found)
        self.page.evaluate("window.__csp = []")

    def close(self) -> None:
        self.context.close()


def test_the_watch_sees_a_violation(live_server, browser, app):  # noqa: F811
    """Negative control: an inline script injected into a page is blocked and reported."""
    watch = CspWatch(browser, live_server, app)
    watch.visit("/")
    watch.page.evaluate("""() => { const s = document.createElement('script');
                                   s.textContent = 'window.__ran = true'; document.body.appendChild(s); }""")
    watch.page.wait_for_timeout(100)
    watch.collect("/")
    assert watch.page.evaluate("window.__ran === undefined")
    assert any("script-src" in v for v in watch.violations), watch.violations
    watch.close()


def test_no_csp_violation_on_any_page(live_server, browser, app, make_driver):  # noqa: F811
    from tests import stats_data as sd

    w = build_world()
    sd.dashboard_data(make_driver)
    sd.lines_data(make_driver)
    period = "du=2025-01-01&au=2025-12-31"
    all_violations, all_errors = [], []

    # the public, no session (phone width: the DSFR menu button and its JS)
    watch = CspWatch(browser, live_server, app, viewport=PHONE)
    for path in ("/", "/inscription", "/connexion", "/connexion/equipe", f"/r/{w.token}"):
        watch.visit(path)
    watch.visit("/chiffres-cles?annee=2025", ready="canvas[data-drawn=true]")
    watch.visit("/nulle-part", status=404)
    watch.page.goto(live_server + "/inscription")
    watch.page.fill("#home", "luzec")                       # the commune autocomplete (fetch)
    watch.page.wait_for_selector("#home-listbox [role=option]", state="attached")
    watch.page.click("#bouton-menu")                          # DSFR's menu
    watch.collect("/inscription (typing, menu)")
    all_violations += watch.violations
    all_errors += watch.errors
    watch.close()

    # driver A: trips, the booking to answer, the trip form
    watch = CspWatch(browser, live_server, app, db.session.get(User, w.driver_a_user))
    watch.visit("/mes-trajets/", ready=f"[data-booking='{w.booking}']")
    watch.visit("/mes-trajets/nouveau")
    watch.page.check("input[name=kind][value=one_off]", force=True)   # offer-form.js shows its fields
    watch.page.fill("#destination", "cahor")
    watch.page.wait_for_selector("#destination-listbox [role=option]", state="attached")
    watch.collect("/mes-trajets/nouveau (typing)")
    watch.visit(f"/mes-trajets/{w.offer_a}/modifier")
    watch.visit(f"/mes-trajets/{w.offer_b}/modifier", status=404)
    all_violations += watch.violations
    all_errors += watch.errors
    watch.close()

    # an operator: the console (Leaflet map of the request) and the statistics (Chart.js, maps)
    op = db.session.get(User, w.operator)
    watch = CspWatch(browser, live_server, app, op)
    watch.visit("/console/")
    watch.visit("/console/appel?q=Marty")
    watch.visit(f"/console/demandes/{w.request}", ready="#map path.leaflet-interactive")
    watch.visit(f"/console/reservations/{w.booking}")
    watch.visit(f"/console/passagers/{w.passenger}")
    watch.visit(f"/console/conducteurs/{w.driver_a}")
    watch.visit("/console/conducteurs")
    watch.visit(f"/statistiques/?{period}", ready="canvas[data-drawn=true]")
    assert watch.page.locator("canvas[data-drawn=true]").count() == 5
    watch.visit(f"/statistiques/carte?{period}", ready="#stats-map[data-ready=true]")
    watch.visit(f"/statistiques/lignes-virtuelles?{period}", ready="#stats-map[data-ready=true]")
    watch.visit(f"/statistiques/exports?{period}")
    watch.visit("/mes-trajets/", status=403)
    all_violations += watch.violations
    all_errors += watch.errors
    watch.close()

    # an admin: the RGPD actions on the passenger's page
    watch = CspWatch(browser, live_server, app, db.session.get(User, w.admin))
    watch.visit(f"/console/passagers/{w.passenger}", ready="#erase-reason")
    all_violations += watch.violations
    all_errors += watch.errors
    watch.close()

    assert all_violations == [], "\n".join(all_violations)
    assert all_errors == [], "\n".join(all_errors)
