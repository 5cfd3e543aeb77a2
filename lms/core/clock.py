"""The one clock of the platform; tests move it with :func:`freeze`."""

from contextlib import contextmanager
from datetime import UTC, datetime

_frozen: datetime | None = None


def now() -> datetime:
    """Current time, timezone-aware UTC."""
    return _frozen or datetime.now(UTC)


def utcnow_naive() -> datetime:
    """UTC without tzinfo, as stored in DateTime columns (same on SQLite and PostgreSQL)."""
    return now().replace(tzinfo=None)


@contextmanager
def freeze(at: datetime):
    global _frozen
    previous, _frozen = _frozen, at if at.tzinfo else at.replace(tzinfo=UTC)
    try:
        yield
    finally:
        _frozen = previous
