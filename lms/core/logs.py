"""Log lines that can be followed across processes: every line names the request it belongs to.

- A request takes its id from a sane ``X-Request-ID`` header (a proxy's or a client's), or makes
  one; the response carries it back in ``X-Request-ID``.
- Every log record made while the request runs carries it as ``request_id`` (a log record factory,
  so lines of any logger have it, the libraries' too).
- A job enqueued during the request carries the id with it (:mod:`lms.core.jobs` adds it to the
  task and sets it again around the job in the worker), so the worker's lines for that job name
  the same request.
- ``LMS_ACCESS_LOG=1`` adds one line per request (logger ``lms.access``: method, path without
  the query string, which may hold a download token, endpoint, status, milliseconds).
- ``LMS_LOG_FORMAT=json`` writes one JSON object per line (time, level, logger, message,
  request_id, and the exception when there is one); ``text`` (the default) stays readable in a
  terminal.
"""

import contextvars
import json
import logging
import re
import sys
import time
import uuid
from datetime import UTC, datetime

from flask import Flask, current_app, g, has_request_context, request

REQUEST_ID_HEADER = "X-Request-ID"
# What a proxy or client may hand us: short, and nothing that could forge a log line or a header.
_SANE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{7,63}")
NO_REQUEST = "-"  # the request_id of lines outside any request or job (JSON: null)

# The id of the job this thread is running (the worker); a request's id lives in ``g``.
_job_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("job_request_id", default=None)


def sane_request_id(value: str | None) -> str | None:
    """``value`` when it may serve as a request id (8-64 letters, digits, ``._:-``), else None."""
    if value and _SANE_ID.fullmatch(value):
        return value
    return None


def new_request_id() -> str:
    return uuid.uuid4().hex


def current_request_id() -> str | None:
    """The id of the request being served, or of the request that enqueued the job being run."""
    if has_request_context():
        rid = g.get("request_id")
        if rid is not None:
            return rid
    return _job_request_id.get()


def set_job_request_id(value: str | None) -> contextvars.Token:
    return _job_request_id.set(value)


def reset_job_request_id(token: contextvars.Token) -> None:
    _job_request_id.reset(token)


class JsonFormatter(logging.Formatter):
    """One JSON object per line, UTF-8 text kept readable."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": _or_none(getattr(record, "request_id", None)),
            "process": record.process,
        }
        http = getattr(record, "http", None)
        if http is not None:
            entry["http"] = http
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def _or_none(request_id: str | None) -> str | None:
    return None if request_id in (None, NO_REQUEST) else request_id


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"


def _install_record_factory() -> None:
    """Every record gets ``request_id`` when it is made, in the thread that makes it."""
    previous = logging.getLogRecordFactory()
    if getattr(previous, "adds_request_id", False):
        return

    def record_with_request_id(*args, **kwargs):
        record = previous(*args, **kwargs)
        record.request_id = current_request_id() or NO_REQUEST
        return record

    record_with_request_id.adds_request_id = True
    logging.setLogRecordFactory(record_with_request_id)


def configure_logging(fmt: str) -> None:
    """Log INFO and above to stderr in ``fmt``. Our handler on the root logger is made once per
    process and keeps the format last configured; when something else already handles the root
    logger (a test runner), it is left alone, as ``logging.basicConfig`` does."""
    _install_record_factory()
    root = logging.getLogger()
    ours = [h for h in root.handlers if getattr(h, "lms_handler", False)]
    if not ours and root.handlers:
        return
    if ours:
        handler = ours[0]
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.lms_handler = True
        root.addHandler(handler)
        root.setLevel(logging.INFO)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))


def init_app(app: Flask) -> None:
    """Logging in the configured format, and a request id for every request. Called before the
    extensions are bound, so that the id is set before any other hook can log."""
    configure_logging(app.config["LMS_LOG_FORMAT"])

    @app.before_request
    def take_request_id():
        g.request_id = sane_request_id(request.headers.get(REQUEST_ID_HEADER)) or new_request_id()
        g.request_clock = time.perf_counter()

    @app.after_request
    def give_request_id(response):
        rid = g.get("request_id")
        if rid is not None:
            response.headers[REQUEST_ID_HEADER] = rid
        if current_app.config["LMS_ACCESS_LOG"]:
            _log_access(response)
        return response


def _log_access(response) -> None:
    started = g.get("request_clock")
    millis = round((time.perf_counter() - started) * 1000, 1) if started is not None else None
    rule = request.url_rule
    http = {"method": request.method, "path": request.path, "endpoint": rule.endpoint if rule else None,
            "status": response.status_code, "ms": millis}
    _access.info("%s %s %s %sms", request.method, request.path, response.status_code, millis, extra={"http": http})


_access = logging.getLogger("lms.access")
