from flask import Blueprint, Response, current_app, jsonify, render_template, request
from flask_babel import gettext as _

from . import health, metrics
from .errors import NotAllowed

bp = Blueprint("core", __name__)


@bp.get("/healthz")
def healthz():
    """For the load balancer: ok, or 503 when this node's database does not answer (lms/core/health.py)."""
    if health.healthy():
        return jsonify(status="ok")
    return jsonify(status="error"), 503


def _operators_only() -> None:
    if not metrics.scrape_allowed(current_app.config, request.remote_addr, request.headers.get("Authorization")):
        raise NotAllowed(_("无权读取运行指标：请使用配置的令牌，或从允许的网络访问。"))


@bp.get("/readyz")
def readyz():
    """For the balancer and operators (the metrics token or network): each dependency's state."""
    _operators_only()
    status, checks = health.readiness()
    response = jsonify(status=status, checks=checks)
    response.headers["Cache-Control"] = "no-store"
    return response, 503 if status == health.ERROR else 200


@bp.get("/metrics")
def metrics_page():
    """Prometheus scrapes here (lms/core/metrics.py): with the token, or from an allowed network."""
    _operators_only()
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
