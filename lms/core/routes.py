from flask import Blueprint, Response, current_app, jsonify, render_template, request
from flask_babel import gettext as _

from ..extensions import db
from . import metrics
from .database import database_status
from .errors import NotAllowed

bp = Blueprint("core", __name__)


@bp.get("/healthz")
def healthz():
    database = database_status(db)
    healthy = database["status"] == "ok"
    return jsonify(status="ok" if healthy else "error", database=database), 200 if healthy else 503


@bp.get("/metrics")
def metrics_page():
    """Prometheus scrapes here (lms/core/metrics.py): with the token, or from an allowed network."""
    if not metrics.scrape_allowed(current_app.config, request.remote_addr, request.headers.get("Authorization")):
        raise NotAllowed(_("无权读取运行指标：请使用配置的令牌，或从允许的网络访问。"))
    body, content_type = metrics.exposition()
    response = Response(body, content_type=content_type)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/help")
def help_page():
    return render_template("core/help.html")


@bp.get("/privacy")
def privacy():
    return render_template("core/privacy.html")
