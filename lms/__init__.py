"""Gongxu LMS: public-subject continuing education for professionals."""

import logging
import os

from flask import Flask, request, session
from flask_babel import gettext
from werkzeug.exceptions import MethodNotAllowed
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.serving import WSGIRequestHandler

from .config import instance_path, is_production, load_config, settle_config
from .core import logs, metrics, replica
from .core.database import commit_apart, configure_pool, configure_sqlite
from .core.enums import N_
from .core.i18n import select_locale
from .core.storage import storage_problem
from .core.web import RowIdConverter, init_body_limits, init_input_guard
from .extensions import babel, csrf, db, limiter, login_manager, migrate

# The domains are imported inside the functions below, not here: importing any ``lms.*`` module runs
# this file first, and a service, a model or a test must not load the whole platform with it.

__all__ = ["create_app", "ready_to_serve"]


def create_app(config: dict | None = None) -> Flask:
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    app = Flask(
        __name__,
        instance_path=instance_path(os.path.join(root, "instance")),
        static_folder=os.path.join(root, "static"),
        template_folder=os.path.join(root, "templates"),
    )
    app.url_map.converters["int"] = RowIdConverter  # before any route is added
    os.makedirs(app.instance_path, exist_ok=True)
    app.config.update(load_config(app.instance_path))
    if config:
        app.config.update(config)
    # First: log lines in the configured format from here on, and the request id and the request's
    # clock (metrics) set before any other hook runs.
    logs.init_app(app)
    for warning in settle_config(app.config):  # LMS_ENV decides what was left open (secure cookies...)
        logging.getLogger(__name__).warning(warning)

    if app.config.get("LMS_PROXY_FIX"):
        # Behind nginx: trust one proxy hop for the client address and scheme.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1)
    metrics.init_app(app)
    _init_extensions(app)
    _init_jobs_and_search(app)
    _register_blueprints(app)
    _init_templating(app)
    _register_cli(app)
    _register_security(app)
    return app


def ready_to_serve(app: Flask) -> Flask:
    """``app``, once it has what a node serving requests or running jobs needs beyond its settings
    (those ``settle_config`` checked): in production, the signing key every node shares and a
    storage that answers (``LMS_STORAGE_URL``). Raises ValueError naming the setting otherwise, so
    a misconfigured node refuses to start rather than serve errors. The entry points call it
    (wsgi.py, lms/worker.py), not the command line, whose ``flask credentials rotate-key`` makes
    that key. (Once running, a storage that stops answering degrades the node: /readyz.)"""
    from .certificates.signing import missing_key_message  # domains load with the app (see the top)

    with app.app_context():
        problem = missing_key_message()
    if not problem and is_production(app.config):
        problem = storage_problem(app)
    if problem:
        raise ValueError(problem)
    return app


def _init_extensions(app: Flask) -> None:
    # Domains load with the app, not with this package (see the top); models register with the metadata.
    from .accounts import models as _accounts  # noqa: F401
    from .api import models as _api  # noqa: F401
    from .assessment import models as _assessment  # noqa: F401
    from .catalog import models as _catalog  # noqa: F401
    from .certificates import models as _certificates  # noqa: F401
    from .claims import models as _claims  # noqa: F401
    from .classes import models as _classes  # noqa: F401
    from .core import audit as _audit  # noqa: F401
    from .credits import models as _credits  # noqa: F401
    from .exports import models as _exports  # noqa: F401
    from .federation import models as _federation  # noqa: F401
    from .learning import models as _learning  # noqa: F401
    from .media import models as _media  # noqa: F401
    from .notices import models as _notices  # noqa: F401
    from .outbox import models as _outbox  # noqa: F401
    from .programme import models as _programme  # noqa: F401
    from .publishing import models as _publishing  # noqa: F401
    from .search import models as _search  # noqa: F401

    db.init_app(app)
    with app.app_context():
        for engine in db.engines.values():
            configure_sqlite(engine)
            configure_pool(engine)
    replica.init_app(app)
    migrate.init_app(app, db, directory=os.path.join(os.path.dirname(app.root_path), "migrations"),
                     render_as_batch=True, compare_type=True)
    init_body_limits(app)  # per-view upload caps, applied before CSRF parses the form
    init_input_guard(app)  # NUL in the address, query or form: 400 before any view (or CSRF) runs
    csrf.init_app(app)
    limiter.init_app(app)
    # Catalogs in lms/translations (Flask-Babel's default folder, relative to the package; `make messages`);
    # the language: the account's choice, the browser's, Accept-Language, else Chinese (lms/core/i18n.py).
    babel.init_app(app, locale_selector=select_locale)

    login_manager.init_app(app)
    login_manager.login_view = "accounts.login"
    login_manager.login_message = N_("请先登录。")
    login_manager.localize_callback = gettext  # translated when flashed, in the request's language
    login_manager.login_message_category = "info"
    login_manager.session_protection = "strong"

    @login_manager.user_loader
    def load_user(user_id: str):
        from .accounts import sessions  # a domain: loads with the app, not with this package

        # "<id>.<login epoch>.<session id>": an ended or expired session, or one from before the
        # last password change, no longer loads (lms/accounts/sessions.py).
        user = sessions.signed_in_user(user_id)
        if user is not None and request.method in ("GET", "HEAD") and sessions.needs_touch(user.login_session) \
                and not (db.session.new or db.session.dirty or db.session.deleted):
            # A page view records activity now and then, in a short write of its own.
            commit_apart(lambda: sessions.touch_session(user.login_session))
        return user


def _init_jobs_and_search(app: Flask) -> None:
    """The job queues, every domain's tasks (registered with the queues by being imported) and the
    signal handlers that queue work or write outbox messages."""
    # Domains load with the app, not with this package (see the top).
    from .api import webhooks
    from .certificates import services as certificates
    from .certificates import tasks as certificate_tasks
    from .core import jobs
    from .exports import metrics as _export_metrics  # noqa: F401  (scrape-time gauges, as tasks register)
    from .exports import tasks as _export_tasks  # noqa: F401
    from .federation import tasks as _federation_tasks  # noqa: F401
    from .federation import transfers as federation_transfers
    from .media import tasks as _media_tasks  # noqa: F401
    from .outbox import metrics as _outbox_metrics  # noqa: F401
    from .outbox import personal as outbox_personal
    from .outbox import tasks as outbox_tasks
    from .publishing import services as publishing
    from .search import services as search
    from .search import tasks as search_tasks
    from .xapi import services as xapi

    jobs.init_app(app)
    # jieba costs ~0.6 s and ~60 MiB on first use: pay it once per process, at start-up.
    search.init_jieba(os.path.join(app.instance_path, "jieba-cache"))
    search_tasks.connect(app)
    outbox_tasks.connect()
    outbox_personal.connect()  # mail and text messages to a person (senders "mail", "sms")
    webhooks.connect_signals()  # credit record events → webhook messages (sender "webhook")
    xapi.connect_signals()  # learning events → statements (sender "xapi")
    certificates.connect_signals()
    certificate_tasks.connect()  # course certificates are issued after the completion commits
    publishing.connect_signals()  # imported packages are held to the national rule's hours
    federation_transfers.connect()  # a course credited by a transferred credential is not credited again


def _register_blueprints(app: Flask) -> None:
    # Domains load with the app, not with this package (see the top).
    from .accounts.routes import bp as accounts_bp
    from .admin.routes import bp as admin_bp
    from .api.routes import bp as api_bp
    from .api.v1 import bp as api_v1_bp
    from .catalog import permissions as _course_permissions  # noqa: F401  (tells media which files are public)
    from .catalog.routes import bp as catalog_bp
    from .certificates.routes import bp as certificates_bp
    from .claims.routes import bp as claims_bp
    from .classes.routes import bp as classes_bp
    from .core.errors import register_error_handlers
    from .core.routes import bp as core_bp
    from .credits.routes import bp as credits_bp
    from .exports.routes import bp as exports_bp
    from .federation.routes import bp as federation_bp
    from .learning.api import bp as learning_api_bp
    from .learning.routes import bp as learning_bp
    from .media.routes import bp as media_bp
    from .notices.routes import bp as notices_bp
    from .programme.routes import bp as programme_bp
    from .publishing.routes import bp as publishing_bp
    from .search.api import bp as search_api_bp
    from .search.routes import bp as search_bp
    from .units.routes import bp as units_bp

    app.register_blueprint(core_bp)
    app.register_blueprint(catalog_bp)
    app.register_blueprint(accounts_bp)
    app.register_blueprint(media_bp)
    app.register_blueprint(publishing_bp)
    app.register_blueprint(search_bp)
    app.register_blueprint(search_api_bp)
    app.register_blueprint(learning_bp)
    app.register_blueprint(learning_api_bp)
    app.register_blueprint(credits_bp)
    app.register_blueprint(certificates_bp)
    app.register_blueprint(claims_bp)
    app.register_blueprint(classes_bp)
    app.register_blueprint(units_bp)
    app.register_blueprint(api_bp)
    app.register_blueprint(api_v1_bp)
    app.register_blueprint(exports_bp)
    app.register_blueprint(notices_bp)
    app.register_blueprint(admin_bp)
    app.register_blueprint(federation_bp)
    app.register_blueprint(programme_bp)
    register_error_handlers(app)


def _init_templating(app: Flask) -> None:
    from . import templating  # uses the domains: loads with the app, not with this package

    templating.init_app(app)


def _register_cli(app: Flask) -> None:
    # Domains load with the app, not with this package (see the top).
    from .accounts.cli import users_cli
    from .admin.cli import audit_cli, exams_cli
    from .catalog.cli import courses_cli
    from .certificates.cli import certificates_cli, credentials_cli
    from .cli import backup_cli, demo_command, jobs_cli, setup_command
    from .exports.cli import export_cli
    from .federation.cli import federation_cli
    from .outbox.cli import outbox_cli
    from .programme.cli import inspections_cli, plan_cli
    from .search.cli import search_cli

    app.cli.add_command(users_cli)
    app.cli.add_command(courses_cli)
    app.cli.add_command(setup_command)
    app.cli.add_command(demo_command)
    app.cli.add_command(jobs_cli)
    app.cli.add_command(search_cli)
    app.cli.add_command(credentials_cli)
    app.cli.add_command(certificates_cli)
    app.cli.add_command(outbox_cli)
    app.cli.add_command(export_cli)
    app.cli.add_command(exams_cli)
    app.cli.add_command(audit_cli)
    app.cli.add_command(federation_cli)
    app.cli.add_command(plan_cli)
    app.cli.add_command(inspections_cli)
    app.cli.add_command(backup_cli)


def _quiet_dev_server() -> None:
    """Werkzeug's server (``flask run``, ``make run``) names itself and Python with their versions in
    every response's Server header, and has no setting for it: its handler says "lms" instead.
    (gunicorn says "gunicorn", without a version.)"""
    WSGIRequestHandler.version_string = lambda self: "lms"


def _register_security(app: Flask) -> None:
    _quiet_dev_server()
    from .core.storage import link_origin  # with the app (see the top)

    def csp() -> str:
        # On object storage, videos, segments (fetched by hls.js) and posters come from the store's
        # signed links: its origin only, nothing else.
        store = link_origin()
        extra = f" {store}" if store else ""
        return (f"default-src 'self'; img-src 'self' data:{extra}; media-src 'self' blob:{extra}; "
                f"connect-src 'self'{extra}; style-src 'self'; script-src 'self'; object-src 'none'; "
                "base-uri 'self'; form-action 'self'; frame-ancestors 'none'")

    @app.after_request
    def security_headers(response):
        response.headers.setdefault("Content-Security-Policy", csp())
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        if request.is_secure:
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        if response.status_code == 405 and "Allow" not in response.headers:
            refused = request.routing_exception
            if isinstance(refused, MethodNotAllowed) and refused.valid_methods:
                response.headers["Allow"] = ", ".join(sorted(refused.valid_methods))
        if "Cache-Control" not in response.headers and _personal():
            response.headers["Cache-Control"] = "no-store"
        return response


def _personal() -> bool:
    """Whether a response may show someone's own data, so that no cache (shared or the browser's
    history on a shared computer) may keep it: anything for a signed-in person or an API client,
    any answer to a form (it shows what was typed), any response that sets the session cookie.
    Views that chose their own Cache-Control (files, public verification) keep it."""
    return (request.method not in ("GET", "HEAD") or "Authorization" in request.headers
            or "_user_id" in session or session.modified)
