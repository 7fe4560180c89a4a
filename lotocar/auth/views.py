from __future__ import annotations

from dataclasses import asdict

from flask import (Blueprint, current_app, flash, g, redirect, render_template, request, session,
                   url_for)
from flask_login import current_user, login_required, login_user, logout_user

from lotocar.auth import operations as ops
from lotocar.auth.decorators import roles_required
from lotocar.auth.forms import ConfirmDetailsForm, CodeForm, PhoneLoginForm, SignupForm, StaffLoginForm
from lotocar.auth.models import Role, User
from lotocar.communes.models import Commune
from lotocar.extensions import db, limiter
from lotocar.notifications.worker import send_now

bp = Blueprint("auth", __name__)


def _code_limit() -> str:
    return current_app.config["CODE_SEND_LIMIT"]


def _login_limit() -> str:
    return current_app.config["LOGIN_LIMIT"]


def _account_limit() -> str:
    return current_app.config["LOGIN_ACCOUNT_LIMIT"]


def _code_sent(response) -> bool:
    """Only a real code request counts against the address (an invalid form does not)."""
    return bool(g.get("code_requested"))


def _attempt_failed(response) -> bool:
    """Only a real wrong try counts (an empty or invalid form is not a guess)."""
    return bool(g.get("attempt_failed"))


def _staff_account_key() -> str:
    return "account:" + (request.form.get("email") or "").strip().lower()[:254]


def _home_for(user: User) -> str:
    if user.role == Role.DRIVER:
        return url_for("offers.my_trips")
    return url_for("main.index")


def _local_next(nxt: str) -> str:
    """Where to go after login: a path of this site only. Browsers drop tabs and newlines
    and read a backslash as a slash: "/<tab>/evil.example" or "/<backslash>evil.example"
    would send the person to another site."""
    if (not nxt.startswith("/") or nxt.startswith("//") or "\\" in nxt
            or any(ch.isspace() or not ch.isprintable() for ch in nxt)):
        return url_for("main.index")
    return nxt


def _deliver(sms: ops.CodeSms | None) -> None:
    """Once the code is committed, its SMS goes out at once (the worker retries it if this
    first attempt fails); a number without an account gets nothing."""
    if sms is not None:
        send_now(sms.phone, sms.body, sms.kind)


def _attach(form, err: ops.AuthError) -> None:
    field = getattr(form, err.field, None) if err.field else None
    if field is not None:
        field.errors = list(field.errors) + [str(err)]
    else:
        flash(str(err), "error")


def _signup_data() -> ops.DriverSignup | None:
    raw = session.get("signup")
    if not isinstance(raw, dict):
        return None
    try:
        return ops.DriverSignup(**raw)
    except TypeError:
        return None


@bp.route("/inscription", methods=["GET", "POST"])
@limiter.limit(_code_limit, methods=["POST"], deduct_when=_code_sent)
def signup():
    if current_user.is_authenticated:
        return redirect(_home_for(current_user))
    form = SignupForm()
    if form.validate_on_submit():
        data = ops.DriverSignup(
            first_name=form.first_name.data, last_name=form.last_name.data,
            phone=form.phone.e164, email=(form.email.data or "").lower() or None,
            home_insee=form.home.commune.insee, consent_contact=bool(form.consent_contact.data),
        )
        try:
            g.code_requested = True
            sms = ops.start_signup(data)
        except ops.AuthError as err:
            db.session.commit()  # an operator alert (SMS budget) is kept
            _attach(form, err)
        else:
            db.session.commit()
            _deliver(sms)
            # nothing about the person is saved before the code: it waits in her session
            session["signup"] = asdict(data)
            return redirect(url_for("auth.verify"))
    return render_template("auth/signup.html", form=form), (400 if form.errors else 200)


@bp.route("/inscription/code", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"], deduct_when=_attempt_failed)
def verify():
    data = _signup_data()
    if data is None:
        flash("Recommencez votre inscription.", "info")
        return redirect(url_for("auth.signup"))
    form = CodeForm()
    if form.validate_on_submit():
        try:
            result = ops.complete_signup(data, form.code.data)
        except ops.AuthError as err:
            g.attempt_failed = True
            db.session.commit()  # the wrong try is counted
            _attach(form, err)
        else:
            user = result.user
            ops.mark_login(user)
            db.session.commit()
            session.clear()
            login_user(user, remember=True)
            if result.outcome == "existing":
                flash("Ce numéro avait déjà un compte : vous y êtes connecté·e, rien n'a été modifié.", "info")
                return redirect(url_for("offers.my_trips"))
            if result.outcome == "confirm":
                session["signup_confirm"] = asdict(data)
                return redirect(url_for("auth.confirm_details"))
            if not result.email_saved:
                flash("Votre adresse e-mail n'a pas pu être enregistrée : l'équipe peut l'ajouter "
                      f"pour vous au {current_app.config['OPERATOR_PHONE']}.", "info")
            flash("Votre numéro est vérifié. Bienvenue sur Lot'ôcar !", "success")
            return redirect(url_for("offers.my_trips"))
    return render_template("auth/code.html", form=form, phone=data.phone,
                           purpose="verify"), (400 if form.errors else 200)


@bp.route("/inscription/confirmer", methods=["GET", "POST"])
@roles_required(Role.DRIVER)
def confirm_details():
    """A driver the team registered has just proved her phone: she confirms what the
    operator entered, or replaces it with what she typed."""
    raw = session.get("signup_confirm")
    data = ops.DriverSignup(**raw) if isinstance(raw, dict) else None
    if data is None or data.phone != current_user.phone:
        return redirect(url_for("offers.my_trips"))
    form = ConfirmDetailsForm()
    if form.validate_on_submit():
        use_typed = form.choice.data == "typed"
        email_ok = ops.confirm_signup_details(current_user, data, use_typed)
        db.session.commit()
        session.pop("signup_confirm", None)
        if not email_ok:
            flash("Votre adresse e-mail n'a pas pu être enregistrée : l'équipe peut l'ajouter "
                  f"pour vous au {current_app.config['OPERATOR_PHONE']}.", "info")
        flash("Vos informations sont à jour. Bienvenue sur Lot'ôcar !", "success")
        return redirect(url_for("offers.my_trips"))
    driver = current_user.driver
    team = {"Prénom": current_user.first_name, "Nom": current_user.last_name,
            "Adresse e-mail": current_user.email or "—",
            "Commune": driver.home.name if driver and driver.home else "—"}
    home = db.session.get(Commune, data.home_insee)
    typed = {"Prénom": data.first_name, "Nom": data.last_name, "Adresse e-mail": data.email or "—",
             "Commune": home.name if home else "—"}
    return render_template("auth/confirm.html", form=form, team=team, typed=typed), \
        (400 if form.errors else 200)


@bp.post("/inscription/renvoyer")
@limiter.limit(_code_limit, deduct_when=_code_sent)
def resend_verify():
    data = _signup_data()
    if data is None:
        return redirect(url_for("auth.signup"))
    try:
        g.code_requested = True
        sms = ops.start_signup(data)
    except ops.AuthError as err:
        db.session.commit()
        flash(str(err), "error")
    else:
        db.session.commit()
        _deliver(sms)
        flash("Un nouveau code vient d'être envoyé.", "info")
    return redirect(url_for("auth.verify"))


@bp.route("/connexion", methods=["GET", "POST"])
@limiter.limit(_code_limit, methods=["POST"], deduct_when=_code_sent)
def login():
    if current_user.is_authenticated:
        return redirect(_home_for(current_user))
    form = PhoneLoginForm()
    if form.validate_on_submit():
        phone = form.phone.e164
        try:
            g.code_requested = True
            sms = ops.request_login_code(phone)
        except ops.AuthError as err:
            db.session.commit()
            _attach(form, err)
        else:
            db.session.commit()
            _deliver(sms)
            session["login_phone"] = phone
            return redirect(url_for("auth.login_code"))
    return render_template("auth/login.html", form=form), (400 if form.errors else 200)


@bp.route("/connexion/code", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"], deduct_when=_attempt_failed)
def login_code():
    phone = session.get("login_phone")
    if not phone:
        return redirect(url_for("auth.login"))
    form = CodeForm()
    if form.validate_on_submit():
        try:
            user = ops.login_with_code(phone, form.code.data)
        except ops.AuthError as err:
            g.attempt_failed = True
            db.session.commit()  # the wrong try is counted
            _attach(form, err)
        else:
            ops.mark_login(user)
            db.session.commit()
            session.clear()
            login_user(user, remember=True)
            return redirect(url_for("offers.my_trips"))
    return render_template("auth/code.html", form=form, phone=phone,
                           purpose="login"), (400 if form.errors else 200)


@bp.route("/connexion/equipe", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"], deduct_when=_attempt_failed)
@limiter.limit(_account_limit, methods=["POST"], key_func=_staff_account_key,
               deduct_when=_attempt_failed)
def staff_login():
    if current_user.is_authenticated:
        return redirect(_home_for(current_user))
    form = StaffLoginForm()
    if form.validate_on_submit():
        user = ops.check_password(form.email.data, form.password.data)
        if user is None or user.role == Role.DRIVER:
            g.attempt_failed = True
            form.password.errors = ["Adresse e-mail ou mot de passe incorrect."]
        else:
            ops.mark_login(user)
            db.session.commit()
            session.clear()
            login_user(user)
            return redirect(_local_next(request.args.get("next", "")))
    return render_template("auth/staff_login.html", form=form), (400 if form.errors else 200)


@bp.post("/deconnexion")
@login_required
def logout():
    # a new session token: this session and every "remember me" cookie of the account end,
    # even a copy of the cookie taken before
    ops.end_sessions(current_user._get_current_object())
    db.session.commit()
    session.clear()
    logout_user()  # after clear(): it leaves the flag that deletes the "remember me" cookie
    flash("Vous êtes déconnecté·e.", "info")
    return redirect(url_for("main.index"))
