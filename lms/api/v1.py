"""The HR API (``/api/v1``): bearer-token clients read the ledger of their unit or region.

Every route but the OpenAPI document needs ``Authorization: Bearer <key_id>.<secret>``; each client
is rate limited on its own key. Errors are ``{"error": {"code", "message", "parameter"?}}``.
"""

import functools
import re
import time
from datetime import UTC, datetime
from pathlib import Path

import yaml
from flask import Blueprint, Response, current_app, g, jsonify, request, url_for
from flask_babel import gettext as _
from limits import parse_many
from sqlalchemy import select

from ..accounts.identifiers import IdentifierError, fold
from ..certificates import numbers
from ..certificates.models import Certificate, CertificateKind, CertificateStatus
from ..core.audit import record_event
from ..core.clock import iso_utc
from ..core.database import writing
from ..core.errors import DomainError, InvalidInput, NotAllowed
from ..core.replica import reads_from_replica
from ..core.web import checks_own_input, commit, public_base
from ..credits.models import CreditRecord
from ..exports import records
from ..exports import services as exports
from ..exports.responses import download_response
from ..extensions import csrf, db, limiter
from . import paging, services
from .services import ApiError

bp = Blueprint("api_v1", __name__, url_prefix="/api/v1")
csrf.exempt(bp)  # bearer tokens, not cookies: nothing for a forged cross-site form to ride on

PUBLIC_ENDPOINTS = {"api_v1.openapi"}
DEFAULT_LIMIT, MAX_LIMIT = 100, 500
OPENAPI_FILE = Path(__file__).with_name("openapi.yaml")


@bp.errorhandler(DomainError)
def api_error(exc: DomainError):
    error = {"code": exc.code, "message": exc.message}
    if exc.field:
        error["parameter"] = exc.field
    response = jsonify(error=error)
    response.status_code = exc.status
    response.headers.update(getattr(exc, "headers", {}) or {})
    return response


@bp.before_request
def authenticate():
    if request.endpoint in PUBLIC_ENDPOINTS:
        return
    client = services.authenticate(request.headers.get("Authorization"), source=request.remote_addr)
    _rate_limit(client)
    g.api_client = client
    g.api_client_seen = (client.id, client.last_used_at)


def _finish(audit: dict | None = None) -> None:
    """Commit the request's reads, then write its bookkeeping (last use, audit) in a transaction of its own.

    Reads and writes are kept apart so a read-only request never upgrades its read transaction to a
    write (which SQLite refuses when another writer committed in between)."""
    commit()
    client_id, last_used_at = g.api_client_seen
    services.note_use(client_id, last_used_at)
    if audit:
        event = record_event(None, audit.pop("action"), None, ip=request.remote_addr, **audit)
        event.target_type, event.target_id = "ApiClient", str(client_id)
    commit()


def _rate_limit(client) -> None:
    if not limiter.enabled:
        return
    strategy = limiter.limiter
    for item in parse_many(current_app.config["LMS_API_RATE_LIMIT"]):
        if not strategy.hit(item, "lms-api", client.key_id):
            reset_at, _remaining = strategy.get_window_stats(item, "lms-api", client.key_id)
            retry = max(1, int(reset_at - time.time()) + 1)
            raise ApiError(429, "rate_limited", _("请求过于频繁（上限 %(item)s），请 %(retry)s 秒后再试。", item=item, retry=retry),
                           headers={"Retry-After": str(retry)})


# ---------------------------------------------------------------- query parameters

def _bad(parameter: str, message: str) -> ApiError:
    return ApiError(400, "invalid_parameter", _("参数 %(parameter)s 不正确：%(message)s", parameter=parameter, message=message), parameter=parameter)


def _only_params(*accepted: str) -> None:
    """Refuse query parameters the route does not know (a misspelt filter must not be ignored)."""
    unknown = [name for name in request.args if name not in accepted]
    if unknown:
        names = _("、").join(name[:60] for name in unknown[:5])
        raise ApiError(400, "invalid_parameter", _("不支持参数 %(names)s。此接口可用的参数：%(accepted)s。", names=names,
                                                   accepted=_("、").join(accepted)),
                       parameter=unknown[0][:60])


def _int_arg(name: str, low: int, high: int, hint: str) -> int | None:
    raw = request.args.get(name, "").strip()
    if not raw:
        return None
    if not (raw.isascii() and raw.isdigit()) or not low <= int(raw) <= high:
        raise _bad(name, hint)
    return int(raw)


def _since_arg() -> datetime | None:
    raw = request.args.get("updated_since", "").strip()
    if not raw:
        return None
    hint = _("应为 ISO 8601 日期时间（含时区），例如 2026-03-01T00:00:00Z 或 2026-03-01T08:00:00+08:00。")
    try:
        at = datetime.fromisoformat(raw)
        if at.tzinfo is None or at.utcoffset() is None:
            raise _bad("updated_since", _("缺少时区。") + hint)
        return at.astimezone(UTC).replace(tzinfo=None)
    except (ValueError, OverflowError):
        raise _bad("updated_since", hint) from None


def _unit_region_args() -> tuple[str | None, str | None]:
    try:
        unit = fold(request.args.get("unit", ""), _("统一社会信用代码")) or None
    except IdentifierError as exc:
        raise _bad("unit", str(exc)) from None
    region = request.args.get("region", "").strip() or None
    if unit and not re.fullmatch(r"[0-9A-Z]{18}", unit):
        raise _bad("unit", _("应为单位的 18 位统一社会信用代码。"))
    if region and not re.fullmatch(r"[0-9]{6}", region):
        raise _bad("region", _("应为 6 位行政区划代码，例如 110000。"))
    return unit, region


def _scope(client, unit: str | None, region: str | None) -> records.Scope:
    try:
        return records.narrow(records.scope_of_client(client), unit=unit, region=region)
    except NotAllowed as exc:
        raise ApiError(403, "out_of_scope", exc.message) from None
    except InvalidInput as exc:
        raise _bad(exc.field or "unit", exc.message) from None


# ---------------------------------------------------------------- records

RECORD_PARAMS = ("year", "unit", "region", "updated_since", "limit", "cursor")
EXPORT_PARAMS = ("year", "format", "unit", "region")


@bp.get("/credit-records")
@checks_own_input  # every parameter is parsed strictly; the error names it
@reads_from_replica
def credit_records():
    client = g.api_client
    _only_params(*RECORD_PARAMS)
    year = _int_arg("year", 2000, 2100, _("应为 2000–2100 之间的年份，例如 2026。"))
    limit = _int_arg("limit", 1, MAX_LIMIT, _("应为 1–%(MAX_LIMIT)s 之间的整数。", MAX_LIMIT=MAX_LIMIT)) or DEFAULT_LIMIT
    since = _since_arg()
    unit, region = _unit_region_args()
    scope = _scope(client, unit, region)
    filters = {"year": year, "unit": unit, "region": region,
               "updated_since": since.isoformat() if since else None}
    query_fingerprint = paging.fingerprint(client.id, filters)
    cursor = request.args.get("cursor", "").strip()
    after_id = paging.read_cursor(cursor, query_fingerprint) if cursor else None

    rows = db.session.execute(records.record_query(
        scope, year=year, active_only=False, after_id=after_id, created_since=since).limit(limit + 1)).all()
    has_more = len(rows) > limit
    rows = rows[:limit]
    data = [records.record_json(row, full_id_numbers=scope.full_id_numbers, credential_links=client.full_id_numbers)
            for row in rows]
    # No rows: nothing new yet, and the client resumes later from the same place.
    next_cursor = paging.make_cursor(rows[-1].id, query_fingerprint) if rows else cursor or None
    audit = None
    if scope.full_id_numbers and data:
        audit = dict(action="api.records_full_id_numbers", filters=filters, scope=scope.filters(), count=len(data),
                     first_id=data[0]["id"], last_id=data[-1]["id"])
    _finish(audit)
    return jsonify(data=data, next_cursor=next_cursor, has_more=has_more)


@bp.get("/credit-records/export")
@checks_own_input  # as credit_records
@reads_from_replica
def export_credit_records():
    """The export page's file, for systems: the same service, audited with the client's key id."""
    client = g.api_client
    _only_params(*EXPORT_PARAMS)
    year = _int_arg("year", 2000, 2100, _("应为 2000–2100 之间的年份，例如 2026。"))
    if year is None:
        raise _bad("year", _("导出须指定年度，例如 year=2026。"))
    fmt = request.args.get("format", "csv").strip().lower() or "csv"
    if fmt not in exports.MEDIA_TYPES:
        raise _bad("format", _("应为 csv 或 xlsx。"))
    unit, region = _unit_region_args()
    scope = _scope(client, unit, region)
    rows = exports.count_rows(scope, year)
    _finish()
    return download_response(None, scope, year=year, fmt=fmt, rows=rows, via=f"api:{client.key_id}",
                             ip=request.remote_addr, commit=commit)


@bp.get("/credentials/<number>")
def credential(number: str):
    """The signed credential of a course certificate in the client's scope, for full-ID clients only.

    The credential identifies its holder (a salted hash of the ID number, the salt in the clear): a
    client that only sees masked numbers could recover the full number from it by trying the hidden
    digits, so it may not fetch it. Every fetch is audited."""
    client = g.api_client
    if not client.full_id_numbers:
        raise ApiError(403, "full_id_required", _("课程证书凭证含有可识别本人身份证号的信息，只有签发时授权查看完整身份证号的"
                                                  "接口凭证才能下载。请联系签发人签发授权完整身份证号的凭证。"))
    scope = _scope(client, None, None)
    not_found = ApiError(404, "not_found", _("没有找到编号为 %(number)s 的课程证书，或它不在此接口凭证可查看的范围内。",
                                               number=number[:40]))
    normalized = numbers.normalize(number)
    cert = None
    if re.fullmatch(r"[A-Z0-9]{1,24}", normalized):
        cert = db.session.scalar(select(Certificate).where(Certificate.number == normalized,
                                                           Certificate.kind == CertificateKind.COURSE))
    if cert is None or cert.credit_record_id is None or not cert.credential_jwt:
        raise not_found
    in_scope = db.session.execute(records.record_query(scope, active_only=False)
                                  .where(CreditRecord.id == cert.credit_record_id).limit(1)).first()
    if in_scope is None:
        raise not_found
    if cert.status == CertificateStatus.REVOKED:
        raise ApiError(410, "credential_revoked", _("课程证书 %(number)s 已被撤销，其凭证不再有效，不再提供下载。", number=cert.number))
    jwt, cert_number = cert.credential_jwt, cert.number
    _finish(dict(action="api.credential_fetch", number=cert_number, credit_record_id=cert.credit_record_id))
    return Response(jwt, mimetype="application/vc+jwt")


# ---------------------------------------------------------------- webhooks

def _webhook_json(subscription, secret: str | None = None) -> dict:
    body = {"id": subscription.id, "url": subscription.url, "events": subscription.event_list,
            "created_at": iso_utc(subscription.created_at)}
    if secret is not None:
        body["secret"] = secret
    return body


@bp.post("/webhooks")
def create_webhook():
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_body", _("请求体应为 JSON 对象，例如 {\"url\": \"https://hr.example.cn/hooks\"}。"))
    # Checking the URL resolves its host (DNS, possibly slow): end authentication's transaction first,
    # which on SQLite holds the write lock (a POST begins IMMEDIATE), so no lock is held meanwhile.
    commit()
    try:
        url = services.check_webhook_url(body.get("url"))
        with writing():  # reads the client's subscriptions, then adds one: SQLite's write lock up front
            subscription, secret = services.register_webhook(g.api_client, url, body.get("events"))
    except InvalidInput as exc:
        raise _bad(exc.field or "url", exc.message) from None
    db.session.flush()
    body = _webhook_json(subscription, secret)
    _finish()
    response = jsonify(body)
    response.status_code = 201
    response.headers["Location"] = url_for("api_v1.webhook", subscription_id=body["id"])
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/webhooks")
def webhooks():
    data = [_webhook_json(s) for s in services.client_webhooks(g.api_client)]
    _finish()
    return jsonify(data=data)


@bp.get("/webhooks/<int:subscription_id>")
def webhook(subscription_id: int):
    data = _webhook_json(services.client_webhook(g.api_client, subscription_id))
    _finish()
    return jsonify(data)


@bp.delete("/webhooks/<int:subscription_id>")
def delete_webhook(subscription_id: int):
    services.delete_webhook(g.api_client, subscription_id)
    _finish()
    return "", 204


# ---------------------------------------------------------------- the OpenAPI document

@functools.cache
def _openapi_document() -> dict:
    return yaml.safe_load(OPENAPI_FILE.read_text(encoding="utf-8"))


@bp.get("/openapi.json")
def openapi():
    document = dict(_openapi_document())
    base = public_base()
    document["servers"] = [{"url": f"{base}/api/v1", "description": _("本平台")}]
    # Paths outside /api/v1 (the courseware feed) name the platform's root as their server.
    document["paths"] = {path: ({**item, "servers": [{"url": base, "description": _("本平台")}]} if "servers" in item
                                else item) for path, item in document["paths"].items()}
    response = jsonify(document)
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response
