"""Helpers for the seminar and class tests: a host, a programme with sessions, accepted learners."""

from datetime import UTC, datetime

from lms.accounts.models import OrgKind, Role
from lms.accounts.services import get_or_create_organization
from lms.classes import services as classes
from lms.core import clock

# 10:00 in Beijing on 10 June 2026: inside the first session (09:00–12:00 local, 01:00–04:00 UTC).
IN_SESSION = datetime(2026, 6, 10, 2, 0, tzinfo=UTC)


def host(make_user, db_session, name="北京研修基地", **kw):
    organization = get_or_create_organization(name, OrgKind.PUBLISHER)
    db_session.flush()
    return make_user(roles=(Role.BASE_ADMIN,), organization=organization, real_name="基地管理", **kw), organization


def programme_data(organization, **kw) -> classes.ProgrammeData:
    values = dict(organization_id=organization.id, kind="seminar", title="人工智能高级研修班", domain="人工智能",
                  place="北京市海淀区", starts_on="2026-06-10", ends_on="2026-06-12", category="professional",
                  quota="2", min_title_level="intermediate", required_percent="60",
                  description="面向中级以上职称的专业技术人员，讲授人工智能前沿。")
    values.update(kw)
    return classes.ProgrammeData(**values)


def session_data(n=1, day="2026-06-10", starts="09:00", ends="12:00", hours="3") -> classes.SessionData:
    return classes.SessionData(title=f"第{n}讲", day=day, starts=starts, ends=ends, hours=hours)


def programme_with_sessions(actor, organization, sessions=3, **kw):
    made = classes.create_programme(actor, programme_data(organization, **kw))
    for n in range(1, sessions + 1):
        classes.add_session(actor, made, session_data(n, day=f"2026-06-{9 + n}"))
    return made


def learner(make_user, level="intermediate", **kw):
    user = make_user(**kw)
    user.title_level = level
    return user


def accepted(actor, programme, learners):
    """Each learner applies and the host accepts them all."""
    applications = [classes.apply(u, programme.id, statement="我在基层从事数据工作，希望系统学习。", groups=[])
                    for u in learners]
    classes.select_applicants(actor, programme.id, [a.id for a in applications])
    return applications


def token_at(session, at: datetime) -> str:
    with clock.freeze(at):
        return classes.issue_token(session)
