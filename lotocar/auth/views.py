from __future__ import annotations

from flask import (Blueprint, current_app, flash, redirect, render_template, request, session,
                   url_for)
from flask_login import current_user, login_required, login_user, logout_user

from lotocar.auth import operations as ops
from lotocar.auth.forms import CodeForm, PhoneLoginForm, SignupForm, StaffLoginForm
from lotocar.auth.models import Role, User
from lotocar.core import tx
from lotocar.extensions import db, limiter
from lotocar.notifications.worker import send_now

bp = Blueprint("auth", __name__)


def _code_limit() -> str:
    return current_app.config["CODE_SEND_LIMIT"]


def _login_limit() -> str:
    return current_app.config["LOGIN_LIMIT"]


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


def _send_code(phone: str, purpose: str, user: User | None, then=None):
    """Store the code (and whatever `then` adds) in one transaction, then send the SMS."""
    def action():
        result = then() if then is not None else user
        return result, ops.send_code(phone, purpose, result if then is not None else user)
    result, body = tx.atomic(action)
    send_now(phone, body, f"code_{purpose}")
    return result


def _failed_attempt() -> None:
    """A wrong code counts even though the action failed: keep that count."""
    db.session.commit()


def _attach(form, err: ops.AuthError) -> None:
    field = getattr(form, err.field, None) if err.field else None
    if field is not None:
        field.errors = list(field.errors) + [str(err)]
    else:
        flash(str(err), "error")


@bp.route("/inscription", methods=["GET", "POST"])
@limiter.limit(_code_limit, methods=["POST"])
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
            user = _send_code(data.phone, "verify", None, then=lambda: ops.register_driver(data))
        except ops.AuthError as err:
            _attach(form, err)
        else:
            session["verify_user_id"] = user.id
            return redirect(url_for("auth.verify"))
    return render_template("auth/signup.html", form=form), (400 if form.errors else 200)


@bp.route("/inscription/code", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
def verify():
    user_id = session.get("verify_user_id")
    user = db.session.get(User, user_id) if user_id else None
    if user is None:
        flash("Recommencez votre inscription.", "info")
        return redirect(url_for("auth.signup"))
    form = CodeForm()
    if form.validate_on_submit():
        try:
            ops.verify_phone(user, form.code.data)
        except ops.AuthError as err:
            _failed_attempt()
            _attach(form, err)
        else:
            session.pop("verify_user_id", None)
            session.clear()
            login_user(user, remember=True)
            ops.mark_login(user)
            tx.commit()
            flash("Votre numéro est vérifié. Bienvenue sur Lot'ôcar !", "success")
            return redirect(url_for("offers.my_trips"))
    return render_template("auth/code.html", form=form, phone=user.phone,
                           purpose="verify"), (400 if form.errors else 200)


@bp.post("/inscription/renvoyer")
@limiter.limit(_code_limit)
def resend_verify():
    user_id = session.get("verify_user_id")
    user = db.session.get(User, user_id) if user_id else None
    if user is None:
        return redirect(url_for("auth.signup"))
    try:
        _send_code(user.phone, "verify", user)
        flash("Un nouveau code vient d'être envoyé.", "info")
    except ops.AuthError as err:
        flash(str(err), "error")
    return redirect(url_for("auth.verify"))


@bp.route("/connexion", methods=["GET", "POST"])
@limiter.limit(_code_limit, methods=["POST"])
def login():
    if current_user.is_authenticated:
        return redirect(_home_for(current_user))
    form = PhoneLoginForm()
    if form.validate_on_submit():
        phone = form.phone.e164
        user = ops.driver_for_phone(phone)
        try:
            if user is not None and user.active:
                _send_code(phone, "login", user)
        except ops.AuthError as err:
            _attach(form, err)
        else:
            session["login_phone"] = phone
            return redirect(url_for("auth.login_code"))
    return render_template("auth/login.html", form=form), (400 if form.errors else 200)


@bp.route("/connexion/code", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
def login_code():
    phone = session.get("login_phone")
    if not phone:
        return redirect(url_for("auth.login"))
    form = CodeForm()
    if form.validate_on_submit():
        user = ops.driver_for_phone(phone)
        try:
            if user is None or not user.active:
                raise ops.AuthError("Ce code n'est pas le bon. Vérifiez le SMS reçu.", "code")
            ops.check_code(phone, "login", form.code.data)
        except ops.AuthError as err:
            _failed_attempt()
            _attach(form, err)
        else:
            session.clear()
            if user.phone_verified_at is None:  # the code proves the phone too
                ops.verify_phone_after_login(user)
            login_user(user, remember=True)
            ops.mark_login(user)
            tx.commit()
            return redirect(url_for("offers.my_trips"))
    return render_template("auth/code.html", form=form, phone=phone,
                           purpose="login"), (400 if form.errors else 200)


@bp.route("/connexion/equipe", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
def staff_login():
    if current_user.is_authenticated:
        return redirect(_home_for(current_user))
    form = StaffLoginForm()
    if form.validate_on_submit():
        user = ops.check_password(form.email.data, form.password.data)
        if user is None or user.role == Role.DRIVER:
            form.password.errors = ["Adresse e-mail ou mot de passe incorrect."]
        else:
            session.clear()
            login_user(user)
            tx.atomic(lambda: ops.mark_login(user))
            return redirect(_local_next(request.args.get("next", "")))
    return render_template("auth/staff_login.html", form=form), (400 if form.errors else 200)


@bp.post("/deconnexion")
@login_required
def logout():
    session.clear()
    logout_user()  # after clear(): it leaves the flag that deletes the "remember me" cookie
    flash("Vous êtes déconnecté·e.", "info")
    return redirect(url_for("main.index"))
