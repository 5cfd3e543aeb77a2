"""What every template may use, registered on the app in one place: the filters (hours, dates,
Markdown...), the helpers some pages call, and the workspace menu of ``templates/base.html``, whose
entries follow the same roles as the views they lead to."""

from datetime import UTC, date

from flask import Flask, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from markupsafe import Markup

from .accounts.models import Role
from .admin import services as admin
from .catalog.models import CourseStatus
from .certificates.pdf import TITLES as CERTIFICATE_TITLES
from .core.clock import local_date, local_zone
from .core.formatting import format_duration, reader_hours, typed_text
from .core.i18n import format_day, format_minute, format_month_day, html_lang
from .core.markdown import render_markdown
from .federation.subscriptions import origin_of_course
from .learning import services as learning
from .notices import services as notices
from .units import services as units

# The workspace menu: (endpoint, label, the roles that see it). Admins see every entry.
WORKSPACE = (
    ("publishing.my_courses", _l("课程发布"), (Role.PUBLISHER,)),
    ("publishing.review_queue", _l("课程审核"), (Role.REVIEWER,)),
    ("units.unit_dashboard", _l("单位管理"), (Role.UNIT_ADMIN,)),
    ("units.region_dashboard", _l("地区学时"), (Role.HR_AUDITOR,)),
    ("claims.review_queue", _l("学时登记审核"), (Role.UNIT_ADMIN, Role.HR_AUDITOR)),
    ("api.clients", _l("接口凭证"), (Role.HR_AUDITOR,)),
    ("exports.list_exports", _l("导出记录"), (Role.UNIT_ADMIN, Role.HR_AUDITOR)),
    ("notices.manage", _l("通知管理"), (Role.HR_AUDITOR,)),
    ("programme.dashboard", _l("计划完成情况"), (Role.PROGRAMME_OFFICE,)),
    ("programme.manage_bases", _l("继续教育基地"), (Role.PROGRAMME_OFFICE, Role.BASE_ADMIN)),
    ("programme.manage_institutions", _l("机构目录"), (Role.PROGRAMME_OFFICE,)),
    ("credits.rule_sets", _l("规则与证书"), ()),
    ("admin.people", _l("人员与权限"), ()),
    ("admin.audit_log", _l("审计日志"), ()),
)


def workspace_links() -> list[tuple[str, str]]:
    """(URL, label) of the workspace pages the signed-in person may open, in menu order."""
    if not current_user.is_authenticated:
        return []
    return [(url_for(endpoint), label) for endpoint, label, allowed in WORKSPACE
            if any(current_user.has_role(role) for role in (*allowed, Role.ADMIN))]


# ---------------------------------------------------------------- filters

def markdown(text: str) -> Markup:
    return Markup(render_markdown(text or ""))


def localdate(value) -> str:
    """A stored UTC time (or a date) as the platform's local date in the reader's language:
    2026-03-02 in Chinese, Mar 2, 2026 in English."""
    if value is None:
        return "—"
    return format_day(value if type(value) is date else local_date(value))


def longdate(value) -> str:
    """A date written out in the reader's language: 2026年3月2日, March 2, 2026."""
    return "—" if value is None else format_day(value, long=True)


def local_minute(value) -> str:
    """A stored UTC time in the platform's time zone, to the minute, in the reader's language."""
    if value is None:
        return "—"
    return format_minute(value.replace(tzinfo=UTC).astimezone(local_zone()))


def minutes(seconds) -> str:
    """Seconds → “12 分 05 秒” / “45 秒”, with units (“0 秒” for none, where ``duration`` shows nothing)."""
    seconds = int(round(float(seconds or 0)))
    m, s = divmod(seconds, 60)
    return _("%(m)s 分 %(s)s 秒", m=m, s=f"{s:02d}") if m else _("%(s)s 秒", s=s)


def role_label(role) -> str:
    return Role(role).label


def certificate_titles(kind: str) -> tuple[str, str]:
    """A certificate's title as printed on it: (Chinese, English)."""
    return CERTIFICATE_TITLES.get(kind, CERTIFICATE_TITLES["course"])


def course_status(status) -> str:
    return CourseStatus(status).label


# ---------------------------------------------------------------- helpers pages call

def enrollment_for(course):
    """The signed-in learner's enrolment in a course (any version), for the course page's button."""
    if not current_user.is_authenticated:
        return None
    return learning.find_enrollment(current_user.id, course.code)


def init_app(app: Flask) -> None:
    for name, function in (("markdown", markdown), ("hours", reader_hours), ("duration", format_duration),
                           ("minutes", minutes), ("localdate", localdate), ("longdate", longdate),
                           ("export_time", local_minute), ("course_status", course_status),
                           ("role_label", role_label), ("audit_action", admin.action_label),
                           ("typed", typed_text)):
        app.add_template_filter(function, name)
    app.add_template_global(enrollment_for, "enrollment_for")
    app.add_template_global(units.rejection_reason, "employment_rejection_reason")
    app.add_template_global(workspace_links, "workspace_links")
    app.add_template_global(origin_of_course, "course_origin")  # "来源：…" of a course imported from a feed
    app.add_template_global(notices.unread_count, "unread_notice_count")
    app.add_template_global(html_lang, "html_lang")
    app.add_template_global(format_month_day, "month_day")
    app.add_template_global(certificate_titles, "certificate_titles")
