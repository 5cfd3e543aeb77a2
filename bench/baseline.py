"""The benchmarks' own endpoint, registered only on the app they serve (``bench.heartbeat.make_app``).

It is the floor a heartbeat is measured against: one INSERT and a commit, nothing else. It answers
at the same address it always had, beside the player's API, so earlier baselines still compare;
the platform's own app has no such route.
"""

from flask import Blueprint, jsonify

from bench.heartbeat import INSERT_PATH
from lms.core.audit import AuditEvent
from lms.extensions import csrf, db

bp = Blueprint("bench", __name__)
csrf.exempt(bp)  # wrk posts without a session or token: the baseline does no request checks at all


@bp.post(INSERT_PATH)
def insert():
    db.session.add(AuditEvent(action="bench.insert", detail={}))
    db.session.commit()
    return jsonify(ok=True)
