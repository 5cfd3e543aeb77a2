"""Keyset paging of the ledger by entry id, with opaque signed cursors bound to their query.

Ledger writers are serialized in commit order (``lms.credits.services.lock_ledger``), so once a
reader has seen entry N no entry with a smaller id can appear later: paging by id neither skips
nor repeats, even while completions are being recorded.
"""

import hashlib
import json

from flask import current_app
from flask_babel import gettext as _
from itsdangerous import BadSignature, URLSafeSerializer

from .services import ApiError

_SALT = "lms.api.credit-records.cursor"


def fingerprint(client_id: int, filters: dict) -> str:
    """A short digest of who asks and with which filters: a cursor only continues its own query."""
    canonical = json.dumps({"client": client_id, **filters}, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()[:24]


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=_SALT)


def make_cursor(after_id: int, query_fingerprint: str) -> str:
    return _serializer().dumps([after_id, query_fingerprint])


def read_cursor(cursor: str, query_fingerprint: str) -> int:
    """The last id seen, from a cursor of this same query; ApiError 400 otherwise."""
    try:
        payload = _serializer().loads(cursor)
    except BadSignature:
        payload = None
    if not (isinstance(payload, list) and len(payload) == 2 and isinstance(payload[0], int)
            and not isinstance(payload[0], bool) and payload[0] >= 0 and isinstance(payload[1], str)):
        raise ApiError(400, "invalid_cursor", _("参数 cursor 无效或已被改动。请使用上一页响应中的 next_cursor 原样传回。"),
                       parameter="cursor")
    if payload[1] != query_fingerprint:
        raise ApiError(400, "cursor_mismatch", _("参数 cursor 属于另一组查询条件。翻页时请保持 year、unit、region、updated_since 不变，"
                                                 "或去掉 cursor 从头开始。"), parameter="cursor")
    return payload[0]
