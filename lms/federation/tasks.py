"""Pulling subscribed feeds: the job (queued from the page, run directly by the CLI) and the
periodic sweep of the worker. This is the edge: it commits after each entry, so one refused or
failed entry never undoes the ones before it, and a pull that stops (network) resumes there."""

import logging
from dataclasses import dataclass, field
from datetime import timedelta

from flask import current_app
from huey import crontab
from sqlalchemy import select

from ..catalog.models import Course
from ..core.clock import utcnow_naive
from ..core.database import writing
from ..core.jobs import app_periodic_task, app_task
from ..extensions import db
from . import remote, services, subscriptions, transfers
from .models import CreditTransfer, EntryOutcome, FeedSubscription

log = logging.getLogger(__name__)


@dataclass
class PullReport:
    subscription_id: int
    imported: list[str] = field(default_factory=list)  # "CODE v2"
    rejected: list[tuple[str, str]] = field(default_factory=list)  # ("CODE v2", reason)
    keys_pinned: int = 0
    error: str | None = None


def pull_subscription(subscription_id: int) -> PullReport:
    """One pull of one subscription, committed entry by entry."""
    report = PullReport(subscription_id=subscription_id)
    sub = db.session.get(FeedSubscription, subscription_id)
    if sub is None or not sub.active:
        report.error = "ended"
        return report
    url = subscriptions.page_url(sub)
    try:
        for _page in range(subscriptions.MAX_PAGES_PER_PULL):
            before = len(sub.pinned_keys)
            entries, url = subscriptions.read_page(sub, url)
            report.keys_pinned += len(sub.pinned_keys) - before
            db.session.commit()
            for item in entries:
                taken = subscriptions.take_entry(sub, item)
                if taken.entry is not None:
                    name = f"{taken.entry.code} v{taken.entry.version}"
                    if taken.entry.outcome == EntryOutcome.IMPORTED:
                        report.imported.append(name)
                    else:
                        report.rejected.append((name, taken.entry.reason))
                if isinstance(item.get("updated_at"), str):
                    sub.cursor = item["updated_at"][:64]
                db.session.commit()
            if not url:
                break
    except (remote.FetchRefused, remote.FetchFailed) as exc:
        db.session.rollback()
        report.error = exc.message
    sub.last_pulled_at = utcnow_naive()
    sub.last_error = report.error
    db.session.commit()
    log.info("federation pull of %s: %s imported, %s rejected%s", sub.origin, len(report.imported),
             len(report.rejected), f", stopped: {report.error}" if report.error else "")
    return report


@app_task()
def pull_subscription_job(subscription_id: int) -> dict:
    report = pull_subscription(subscription_id)
    return {"imported": report.imported, "rejected": len(report.rejected), "error": report.error}


@app_periodic_task(crontab(minute="*/5"))
def pull_due_subscriptions() -> int:
    """Every five minutes: queue a pull of each active subscription not pulled for
    ``LMS_FEDERATION_PULL_MINUTES``."""
    due_before = utcnow_naive() - timedelta(minutes=current_app.config["LMS_FEDERATION_PULL_MINUTES"])
    ids = list(db.session.scalars(select(FeedSubscription.id).where(
        FeedSubscription.ended_at.is_(None),
        (FeedSubscription.last_pulled_at.is_(None)) | (FeedSubscription.last_pulled_at < due_before))))
    db.session.commit()
    for subscription_id in ids:
        pull_subscription_job(subscription_id)
    return len(ids)


def build_archives() -> list[str]:
    """Build the archive of each published version of a shared code that has none, committing
    each; returns "CODE vN" of those built."""
    built = []
    for course_id in services.versions_without_archive():
        course = db.session.get(Course, course_id)
        services.build_archive(course)
        db.session.commit()
        built.append(f"{course.code} v{course.version}")
    db.session.commit()
    return built


@app_periodic_task(crontab(minute="*/5"))
def build_shared_archives() -> list[str]:
    """Every five minutes: new versions of shared courses get their archive and enter the feed."""
    return build_archives()


def recheck_transfers() -> dict:
    """Read the status of each transferred credential due for a check, committing each: a
    credential revoked at its issuer voids its entry here. The issuer is read holding no lock;
    the outcome is recorded in a short transaction that takes SQLite's write lock at BEGIN (and
    locks the transfer, so that two checks running at once void it once)."""
    result = {"checked": 0, "voided": 0, "unavailable": 0}
    for transfer_id in transfers.transfers_due():
        transfer = db.session.get(CreditTransfer, transfer_id)
        status = transfers.status_now(transfer)
        db.session.commit()
        with writing():
            outcome = transfers.record_status(transfer_id, status)
            db.session.commit()
        result["checked"] += 1
        if outcome is True:
            result["voided"] += 1
        elif outcome is None:
            result["unavailable"] += 1
    db.session.commit()
    return result


@app_periodic_task(crontab(minute="17"))
def recheck_transferred_credentials() -> dict:
    """Every hour: transferred credentials not checked for ``LMS_TRANSFER_RECHECK_HOURS`` are checked
    again at their issuer."""
    return recheck_transfers()
