"""Domain errors carry their HTTP status and a message the user can act on.

Services raise them; one set of handlers turns them into an HTML page or a JSON body.
"""

from flask import jsonify, render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError

from ..extensions import db
from . import csrf


class DomainError(Exception):
    status = 400
    code = "invalid"

    def __init__(self, message: str, *, field: str | None = None, reason: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        self.reason = reason  # a short name of why, where operators count refusals (lms/core/metrics.py)


class InvalidInput(DomainError):
    status = 400
    code = "invalid_input"


class NotAllowed(DomainError):
    status = 403
    code = "forbidden"


class NotFound(DomainError):
    status = 404
    code = "not_found"


class Conflict(DomainError):
    status = 409
    code = "conflict"


class TooMany(DomainError):
    status = 429
    code = "rate_limited"


JSON_PATHS = ("/healthz", "/search/suggest")  # answer JSON outside /api/, errors included


def _wants_json() -> bool:
    if request.path.startswith("/api/") or request.path in JSON_PATHS:
        return True
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best == "application/json" and request.accept_mimetypes[best] > request.accept_mimetypes["text/html"]


def _respond(status: int, code: str, title: str, message: str):
    if _wants_json():
        return jsonify(error={"code": code, "message": message}), status
    return render_template("errors/error.html", status=status, title=title, message=message), status


def _method_message(exc) -> str:
    if _wants_json():  # a program's request: say which methods the address takes
        allowed = sorted(set(exc.valid_methods or ()) - {"HEAD", "OPTIONS"})
        return _("该接口不支持 %(method)s 请求，请改用 %(allowed)s。", method=request.method, allowed=", ".join(allowed))
    return _("此页面不支持该请求方式，请从页面上的按钮进入。")


def _rollback_quietly() -> None:
    try:
        db.session.rollback()
    except Exception:  # the connection itself is gone: the page is still shown
        db.session.remove()


def register_error_handlers(app):
    @app.errorhandler(DomainError)
    def domain_error(exc: DomainError):
        return _respond(exc.status, exc.code, _("操作未完成"), exc.message)

    @app.errorhandler(CSRFError)
    def csrf_error(exc):
        """A form POST is shown again with what was typed (lms/core/csrf.py); a script's request
        (JSON, or any PUT, PATCH, DELETE) gets a JSON error; anything else an error page."""
        if _wants_json() or request.is_json or request.method != "POST":
            return jsonify(error={"code": "csrf", "message": _("页面已过期或来源无法确认，请刷新页面后重试。")}), 400
        page = csrf.show_form_again()
        if page is not None:
            return page
        return _respond(400, "csrf", _("页面已过期"), _("页面已过期或来源无法确认。请返回上一页，刷新后重新提交。"))

    app.context_processor(csrf.refused_notice_context)

    @app.errorhandler(403)
    def forbidden(exc):
        return _respond(403, "forbidden", _("无权访问"), _("您没有访问此页面的权限。如需开通，请联系所在单位管理员。"))

    @app.errorhandler(404)
    def not_found(exc):
        return _respond(404, "not_found", _("页面不存在"), _("您访问的页面不存在或已下线。请检查网址，或从首页重新进入。"))

    @app.errorhandler(405)
    def method_not_allowed(exc):
        return _respond(405, "method_not_allowed", _("请求方式不正确"), _method_message(exc))

    @app.errorhandler(413)
    def too_large(exc):
        limit = request.max_content_length
        if limit:
            return _respond(413, "too_large", _("提交内容过大"), _(
                "提交的内容超过了 %(n)s MB 的大小限制，请缩小后重试；上传视频或课程包请使用媒体库或导入页面上的上传按钮。",
                n=max(1, limit // (1024 * 1024))))
        return _respond(413, "too_large", _("提交内容过大"), _("提交的内容超过了大小限制，请缩小后重试。"))

    @app.errorhandler(429)
    def too_many(exc):
        return _respond(429, "rate_limited", _("操作过于频繁"), _("操作过于频繁，请稍等一分钟后再试。"))

    @app.errorhandler(500)
    def server_error(exc):
        # The failure may have left the session's transaction unusable (an IntegrityError at flush):
        # the page (its header reads the signed-in user) must not touch it before it is rolled back.
        _rollback_quietly()
        return _respond(500, "server_error", _("服务暂时不可用"), _("服务器处理请求时出错，已记录。请稍后重试；您填写的内容未被保存时，请返回上一页重新提交。"))
