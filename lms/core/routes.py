from flask import Blueprint, jsonify, render_template

from ..extensions import db
from .database import database_status

bp = Blueprint("core", __name__)


@bp.get("/healthz")
def healthz():
    database = database_status(db)
    healthy = database["status"] == "ok"
    return jsonify(status="ok" if healthy else "error", database=database), 200 if healthy else 503


@bp.get("/help")
def help_page():
    return render_template("core/help.html")


@bp.get("/privacy")
def privacy():
    return render_template("core/privacy.html")
