"""The one clock of the platform; tests move it with :func:`freeze`."""

from contextlib import contextmanager
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from flask import current_app

_frozen: datetime | None = None


def now() -> datetime:
    """Current time, timezone-aware UTC."""
    return _frozen or datetime.now(UTC)


def utcnow_naive() -> datetime:
    """UTC without tzinfo, as stored in DateTime columns (same on SQLite and PostgreSQL)."""
    return now().replace(tzinfo=None)


def local_zone() -> ZoneInfo:
    """The platform's time zone (``LMS_TIMEZONE``, default Asia/Shanghai): credit years, dates shown."""
    return ZoneInfo(current_app.config["BABEL_DEFAULT_TIMEZONE"])


def local_date(at: datetime | None, zone: ZoneInfo | None = None) -> date | None:
    """The local calendar date of a stored (naive UTC) or aware time."""
    if at is None:
        return None
    aware = at if at.tzinfo else at.replace(tzinfo=UTC)
    return aware.astimezone(zone or local_zone()).date()


def iso_utc(at: datetime | None) -> str | None:
    """``2026-03-10T02:00:00Z``: a stored (naive UTC) or aware time, as APIs and credentials write it."""
    if at is None:
        return None
    aware = at if at.tzinfo else at.replace(tzinfo=UTC)
    return aware.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@contextmanager
def freeze(at: datetime):
    global _frozen
    previous, _frozen = _frozen, at if at.tzinfo else at.replace(tzinfo=UTC)
    try:
        yield
    finally:
        _frozen = previous
