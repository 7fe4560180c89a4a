"""Driver sign-up with phone verification, login by SMS code, staff login, protections."""
from __future__ import annotations

from datetime import timedelta

import pytest

from lotocar.auth.models import PhoneCode, Role, User
from lotocar.extensions import db
from tests.conftest import csrf_token, last_code

PHONE = "+33612345678"


def signup(client, **overrides):
    data = {
        "first_name": "Jeanne", "last_name": "Delpech", "phone": "06 12 34 56 78",
        "email": "", "home": "Luzech (46140)", "consent_contact": "y",
    }
    data.update(overrides)
    data["csrf_token"] = csrf_token(client, "/inscription")
    return client.post("/inscription", data=data)


def test_signup_verifies_phone_and_logs_in(client, sms):
    r = signup(client, email="Jeanne@Example.fr")
    assert r.status_code == 302 and r.headers["Location"].endswith("/inscription/code")
    # nothing about the person is saved before the code proves she holds the phone
    assert db.session.scalar(db.select(User).where(User.phone == PHONE)) is None
    # not logged in before verification
    assert client.get("/mes-trajets/").status_code == 302
    code = last_code(sms, PHONE)
    stored = db.session.scalar(db.select(PhoneCode).where(PhoneCode.phone == PHONE))
    assert code not in stored.code_hash  # only a hash is kept
    r = client.post("/inscription/code", data={"code": code, "csrf_token": csrf_token(client, "/inscription/code")})
    assert r.status_code == 302 and r.headers["Location"].endswith("/mes-trajets/")
    db.session.expire_all()
    user = db.session.scalar(db.select(User).where(User.phone == PHONE))
    assert user.role == Role.DRIVER and user.phone_verified_at is not None
    assert user.email == "jeanne@example.fr"
    assert user.driver.home_insee == "46182" and user.driver.consent_contact
    assert user.driver.consent_at is not None
    page = client.get("/mes-trajets/")
    assert page.status_code == 200 and "Mes trajets" in page.get_data(as_text=True)


def verify(client, code):
    return client.post("/inscription/code", data={"code": code, "csrf_token": csrf_token(client, "/inscription/code")})


def test_signup_accepts_plain_commune_name_and_typo_suggestions(client, sms):
    assert signup(client, home="st gery").status_code == 302
    verify(client, last_code(sms, PHONE))
    db.session.expire_all()
    user = db.session.scalar(db.select(User).where(User.phone == PHONE))
    assert user.driver.home_insee == "46268"


@pytest.mark.parametrize("field,value,message", [
    ("phone", "05 65 12 34 56", "portable"),
    ("phone", "06 12", "pas valide"),
    ("phone", "bonjour", "pas reconnu"),
    ("phone", "", "Indiquez un numéro"),
    ("first_name", "", "obligatoire"),
    ("last_name", "x" * 81, "80 caractères"),
    ("email", "pas-un-email", "e-mail non valide"),
    ("home", "Paris", "Aucune commune du Lot"),
    ("home", "cahros", "Vouliez-vous dire : Cahors (46000)"),
    ("home", "", "obligatoire"),
    ("consent_contact", "", "accord est nécessaire"),
])
def test_signup_errors_next_to_field_nothing_saved(client, sms, field, value, message):
    r = signup(client, **{field: value})
    assert r.status_code == 400
    html = r.get_data(as_text=True)
    assert f'id="{field}-error"' in html
    assert message in html.split(f'id="{field}-error"')[1][:400]
    assert db.session.scalar(db.select(db.func.count()).select_from(User)) == 0
    assert sms.sent == []


def test_signup_with_a_registered_phone_answers_the_same_and_changes_nothing(client, sms, make_driver):
    """Enumeration: the page answers as for a new number; only the SMS tells the owner, and
    its code logs her into her account as it is."""
    user = make_driver("Marie", "Lacoste", phone=PHONE)
    r = signup(client, first_name="Appelez le 08 99 00 00 00")
    assert r.status_code == 302 and r.headers["Location"].endswith("/inscription/code")
    assert "déjà un compte" in sms.last_to(PHONE).body
    r = verify(client, last_code(sms, PHONE))
    assert r.status_code == 302 and r.headers["Location"].endswith("/mes-trajets/")
    db.session.expire_all()
    assert db.session.get(User, user.id).first_name == "Marie"


def test_signup_again_before_verification_keeps_the_last_form(client, sms):
    signup(client, first_name="Jeane")
    signup(client, first_name="Jeanne")
    assert db.session.scalars(db.select(User)).all() == []
    assert len(sms.sent) == 2
    verify(client, last_code(sms, PHONE))
    users = db.session.scalars(db.select(User)).all()
    assert len(users) == 1 and users[0].first_name == "Jeanne"


def test_wrong_code_then_too_many_attempts(client, sms, app):
    signup(client)
    code = last_code(sms, PHONE)
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(app.config["OTP_MAX_ATTEMPTS"]):
        r = client.post("/inscription/code", data={"code": wrong, "csrf_token": csrf_token(client, "/inscription/code")})
        assert r.status_code == 400 and "pas le bon" in r.get_data(as_text=True)
    r = client.post("/inscription/code", data={"code": code, "csrf_token": csrf_token(client, "/inscription/code")})
    assert "Trop d&#39;essais" in r.get_data(as_text=True) or "Trop d'essais" in r.get_data(as_text=True)
    assert db.session.scalar(db.select(User)) is None  # nothing was created


def test_expired_code_refused(client, sms):
    signup(client)
    code = last_code(sms, PHONE)
    row = db.session.scalar(db.select(PhoneCode))
    row.expires_at = row.created_at - timedelta(seconds=1)
    db.session.commit()
    r = client.post("/inscription/code", data={"code": code, "csrf_token": csrf_token(client, "/inscription/code")})
    assert r.status_code == 400 and "expiré" in r.get_data(as_text=True)


def test_code_is_single_use(client, sms):
    signup(client)
    code = last_code(sms, PHONE)
    client.post("/inscription/code", data={"code": code, "csrf_token": csrf_token(client, "/inscription/code")})
    client.post("/deconnexion", data={"csrf_token": csrf_token(client, "/mes-trajets/")})
    client.post("/connexion", data={"phone": PHONE, "csrf_token": csrf_token(client)})
    r = client.post("/connexion/code", data={"code": code, "csrf_token": csrf_token(client)})
    assert r.status_code == 400  # the sign-up code does not open a session


def test_login_by_sms_code(client, sms, make_driver):
    user = make_driver(phone=PHONE)
    r = client.post("/connexion", data={"phone": "06 12 34 56 78", "csrf_token": csrf_token(client)})
    assert r.status_code == 302 and r.headers["Location"].endswith("/connexion/code")
    code = last_code(sms, PHONE)
    assert "Ne le donnez à personne" in sms.sent[-1].body
    r = client.post("/connexion/code", data={"code": code, "csrf_token": csrf_token(client)})
    assert r.status_code == 302 and r.headers["Location"].endswith("/mes-trajets/")
    assert client.get("/mes-trajets/").status_code == 200
    db.session.expire_all()
    assert db.session.get(User, user.id).last_login_at is not None


def test_login_unknown_phone_reveals_nothing_and_sends_nothing(client, sms):
    r = client.post("/connexion", data={"phone": "06 98 76 54 32", "csrf_token": csrf_token(client)})
    assert r.status_code == 302 and r.headers["Location"].endswith("/connexion/code")
    assert sms.sent == []
    r = client.post("/connexion/code", data={"code": "123456", "csrf_token": csrf_token(client)})
    assert r.status_code == 400


def test_code_sending_limited_per_phone(client, sms, make_driver, app):
    make_driver(phone=PHONE)
    limit = app.config["OTP_MAX_PER_PHONE"]
    for _ in range(limit):
        client.post("/connexion", data={"phone": PHONE, "csrf_token": csrf_token(client)})
    assert len(sms.sent) == limit
    r = client.post("/connexion", data={"phone": PHONE, "csrf_token": csrf_token(client)})
    assert r.status_code == 400 and "Trop de codes" in r.get_data(as_text=True)
    assert len(sms.sent) == limit


def test_code_sending_rate_limited_per_client(client, app):
    # 5 per 15 minutes from one address, whatever the numbers: the 6th gets 429
    statuses = []
    for i in range(6):
        r = client.post("/connexion", data={"phone": f"06 98 76 54 {i:02d}", "csrf_token": csrf_token(client)})
        statuses.append(r.status_code)
    assert statuses[:5] == [302] * 5
    assert statuses[5] == 429
    assert "Trop de tentatives" in r.get_data(as_text=True)


def test_csrf_required_on_forms(client):
    r = client.post("/inscription", data={"first_name": "A", "last_name": "B", "phone": "0612345678",
                                         "home": "Cahors", "consent_contact": "y"})
    assert r.status_code == 400
    assert "expiré" in r.get_data(as_text=True)
    assert db.session.scalar(db.select(db.func.count()).select_from(User)) == 0
    r = client.post("/connexion/equipe", data={"email": "a@b.fr", "password": "x"})
    assert r.status_code == 400


def test_staff_login_with_password(client, runner):
    result = runner.invoke(args=["operators", "create", "sophie@lotocar.fr", "--name", "Sophie Martin"])
    assert result.exit_code == 0, result.output
    password = result.output.strip().split("Password: ")[1]
    r = client.post("/connexion/equipe", data={"email": "sophie@lotocar.fr", "password": "mauvais",
                                               "csrf_token": csrf_token(client, "/connexion/equipe")})
    assert r.status_code == 400 and "incorrect" in r.get_data(as_text=True)
    r = client.post("/connexion/equipe", data={"email": "Sophie@lotocar.fr", "password": password,
                                               "csrf_token": csrf_token(client, "/connexion/equipe")})
    assert r.status_code == 302
    # an operator has no driver pages
    assert client.get("/mes-trajets/").status_code == 403
    dup = runner.invoke(args=["operators", "create", "sophie@lotocar.fr", "--name", "S M"])
    assert dup.exit_code != 0


def test_drivers_cannot_use_staff_login(client, make_driver):
    user = make_driver()
    user.email = "driver@example.fr"
    from lotocar.auth.operations import set_password
    set_password(user, "a-long-password")
    db.session.commit()
    r = client.post("/connexion/equipe", data={"email": "driver@example.fr", "password": "a-long-password",
                                               "csrf_token": csrf_token(client, "/connexion/equipe")})
    assert r.status_code == 400


def test_open_redirect_refused(client, runner):
    result = runner.invoke(args=["operators", "create", "op@lotocar.fr", "--name", "O P"])
    password = result.output.strip().split("Password: ")[1]
    r = client.post("/connexion/equipe?next=//evil.example/x",
                    data={"email": "op@lotocar.fr", "password": password,
                          "csrf_token": csrf_token(client, "/connexion/equipe")})
    assert r.status_code == 302 and r.headers["Location"] == "/"


def test_logout_requires_post(client, make_driver):
    from tests.conftest import login_as
    login_as(client, make_driver())
    assert client.get("/deconnexion").status_code == 405
    r = client.post("/deconnexion", data={"csrf_token": csrf_token(client, "/mes-trajets/")})
    assert r.status_code == 302
    assert client.get("/mes-trajets/").status_code == 302


def test_production_config_secure(monkeypatch, tmp_path):
    from lotocar import create_app
    from lotocar.config import ConfigError, load_config

    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.delenv("SECRET_KEY", raising=False)
    with pytest.raises(ConfigError):
        load_config(str(tmp_path))
    monkeypatch.setenv("SECRET_KEY", "s3cret")
    monkeypatch.setenv("DATABASE_URL", "sqlite:///" + str(tmp_path / "p.db"))
    cfg = load_config(str(tmp_path))
    assert cfg["SESSION_COOKIE_SECURE"] is True and cfg["SESSION_COOKIE_HTTPONLY"] is True
    assert cfg["SESSION_COOKIE_SAMESITE"] == "Lax"
    app = create_app()
    r = app.test_client().get("/connexion")
    assert "Strict-Transport-Security" in r.headers
    assert r.headers["X-Frame-Options"] == "DENY"
    assert "default-src 'self'" in r.headers["Content-Security-Policy"]


def test_default_config(monkeypatch, tmp_path):
    from lotocar.config import DEV_SECRET_KEY, load_config

    for var in ("APP_ENV", "SECRET_KEY", "DATABASE_URL"):
        monkeypatch.delenv(var, raising=False)
    cfg = load_config(str(tmp_path))
    assert cfg["SQLALCHEMY_DATABASE_URI"] == "sqlite:///" + str(tmp_path / "lotocar.db")
    assert cfg["SECRET_KEY"] == DEV_SECRET_KEY
    assert cfg["TIMEZONE"] == "Europe/Paris"
    assert cfg["SESSION_COOKIE_SECURE"] is False
    monkeypatch.setenv("DATABASE_URL", "postgres://u@h/db")
    assert load_config(str(tmp_path))["SQLALCHEMY_DATABASE_URI"] == "postgresql://u@h/db"
    monkeypatch.setenv("APP_ENV", "staging")
    with pytest.raises(Exception):
        load_config(str(tmp_path))
