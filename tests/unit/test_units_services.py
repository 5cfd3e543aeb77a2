"""Unit admins' and HR auditors' figures: below target first, as the learner's own year counts them."""

from decimal import Decimal

import pytest
from sqlalchemy import event, select

from lms.accounts.models import EmploymentStatus, Role
from lms.core.audit import AuditEvent
from lms.core.errors import Conflict, InvalidInput, NotAllowed, NotFound
from lms.credits import services as ledger
from lms.extensions import db
from lms.units import services
from tests.records_helpers import UNIT_A, UNIT_B, employee
from tests.units_helpers import build, org


@pytest.fixture
def people(ctx, db_session, make_user):
    return build(db_session, make_user)


def test_unit_standing_below_target_first_with_known_figures(people):
    board = services.unit_dashboard(people["unit_a"], None, year=2026)
    assert board.unit.credit_code == UNIT_A and board.year == 2026
    rows = board.standing.items
    assert [s.real_name for s in rows] == ["甲无", "甲去年", "甲缺", "甲撤", "甲专", "甲全"]
    by_name = {s.real_name: s for s in rows}
    assert (by_name["甲无"].total, by_name["甲无"].missing) == (Decimal(0), Decimal(4))
    assert (by_name["甲缺"].total, by_name["甲缺"].public, by_name["甲缺"].missing) == (2, 2, 2)
    assert (by_name["甲撤"].total, by_name["甲撤"].missing) == (2, 2)
    assert (by_name["甲专"].total, by_name["甲专"].public, by_name["甲专"].missing,
            by_name["甲专"].public_missing) == (4, 0, 0, 2)
    assert by_name["甲专"].below and not by_name["甲全"].below
    assert (by_name["甲全"].total, by_name["甲全"].required, by_name["甲全"].public_min) == (4, 4, 2)
    assert (board.employees, board.below_count) == (6, 5)
    # The same figures as each learner's own page (credits.year_summary).
    for key in ("full", "short", "none", "prof", "revoked", "lastyear"):
        summary = ledger.year_summary(people[key], 2026)
        mine = next(s for s in rows if s.user_id == people[key].id)
        assert (mine.total, mine.below, mine.missing) == (summary.total, not summary.complete, summary.missing)
    assert [p.real_name for p in board.pending] == ["待审甲"] and board.pending_count == 1


def test_last_year_and_search(people):
    board = services.unit_dashboard(people["unit_a"], UNIT_A.lower(), year="2025")
    assert {s.real_name for s in board.standing.items if not s.below} == {"甲去年"}
    found = services.unit_dashboard(people["unit_a"], None, year=2026, search="缺")
    assert [s.real_name for s in found.standing.items] == ["甲缺"] and found.employees == 6
    assert services.unit_dashboard(people["unit_a"], None, year=2026, search="%").standing.items == []
    with pytest.raises(InvalidInput):
        services.unit_dashboard(people["unit_a"], None, year="20x6")


def test_query_count_does_not_grow_with_employees(people, make_user):
    def statements():
        seen = []
        listener = lambda *args: seen.append(args[2])  # noqa: E731
        event.listen(db.session.get_bind(), "before_cursor_execute", listener)
        try:
            services.unit_dashboard(people["unit_a"], None, year=2026)
        finally:
            event.remove(db.session.get_bind(), "before_cursor_execute", listener)
        return len(seen)

    before = statements()
    for n in range(5):
        employee(make_user, UNIT_A, real_name=f"甲新{n}")
    assert statements() == before


def test_unit_admin_is_confined_to_their_unit(people):
    with pytest.raises(NotAllowed):
        services.unit_dashboard(people["unit_a"], UNIT_B)
    with pytest.raises(NotAllowed):
        services.unit_dashboard(people["auditor_bj"], None)
    with pytest.raises(NotAllowed):
        services.unit_dashboard(people["full"], None)
    with pytest.raises(NotAllowed):
        services.decide_employment(people["unit_a"], UNIT_B, people["b_pending"].id, approve=True)
    with pytest.raises(NotFound):
        services.decide_employment(people["unit_a"], UNIT_A, people["b_pending"].id, approve=True)
    assert people["b_pending"].employment_status == EmploymentStatus.PENDING
    # An admin reaches any unit, by choosing it.
    assert services.unit_dashboard(people["admin"], None) is None
    assert services.unit_dashboard(people["admin"], UNIT_B, year=2026).standing.items[0].real_name == "乙一"


def test_a_unit_admin_of_two_units_chooses(people, db_session):
    from lms.accounts import services as accounts

    accounts.grant_role(None, people["unit_a"], Role.UNIT_ADMIN, organization=org(db_session, UNIT_B))
    db_session.commit()
    assert services.unit_dashboard(people["unit_a"], None) is None
    assert services.unit_dashboard(people["unit_a"], UNIT_B, year=2026).unit.credit_code == UNIT_B


def test_decisions_are_audited_and_not_repeated(people, db_session):
    learner = services.decide_employment(people["unit_a"], UNIT_A, people["pending"].id, approve=True)
    db_session.commit()
    assert learner.employment_status == EmploymentStatus.APPROVED
    event_ = db_session.scalar(select(AuditEvent).where(AuditEvent.action == "employment.approved"))
    assert event_.actor_id == people["unit_a"].id and event_.target_id == str(learner.id)
    assert event_.detail["credit_code"] == UNIT_A
    with pytest.raises(Conflict, match="已处理"):
        services.decide_employment(people["unit_a"], UNIT_A, learner.id, approve=False, reason="不是本单位")
    assert services.unit_dashboard(people["unit_a"], None, year=2026).employees == 7



def test_rejection_needs_a_reason_that_the_learner_sees(people, db_session, make_user):
    pending = employee(make_user, UNIT_A, approved=False, real_name="待审丙")
    with pytest.raises(InvalidInput):
        services.decide_employment(people["unit_a"], UNIT_A, pending.id, approve=False, reason=" ")
    assert pending.employment_status == EmploymentStatus.PENDING
    services.decide_employment(people["unit_a"], UNIT_A, pending.id, approve=False, reason="本单位  无此人员")
    db_session.commit()
    assert pending.employment_status == EmploymentStatus.REJECTED
    assert services.rejection_reason(pending) == "本单位 无此人员"
    assert services.rejection_reason(people["full"]) is None


def test_region_dashboard_figures_and_scope(people):
    board = services.region_dashboard(people["auditor_bj"], None, year=2026)
    assert board.region.code == "110000"
    # Learners of 110000: the seven of unit A (the pending one too) — not 乙一 of 440000.
    assert board.learners == 7 and board.learners_with_records == 5
    assert board.hours_total == Decimal(4 + 4 + 2 + 4 + 2)  # full, prof, revoked, pending, short
    assert board.below_count == 5 and board.unit_count == 1
    assert [s.real_name for s in board.below.items] == ["甲无", "甲去年", "甲缺", "甲撤", "甲专"]
    line = board.units.items[0]
    assert (line.credit_code, line.employees, line.complete, line.percent) == (UNIT_A, 6, 1, 16)
    assert line.hours == Decimal(12)
    with pytest.raises(NotAllowed):
        services.region_dashboard(people["auditor_bj"], "440000")
    with pytest.raises(NotAllowed):
        services.region_dashboard(people["unit_a"], None)
    # 440000's example rule closes on 30 April: a completion of March 2026 counts toward 2025.
    gd = services.region_dashboard(people["auditor_gd"], None, year=2025)
    assert gd.learners == 2 and gd.hours_total == Decimal(2) and [u.credit_code for u in gd.units.items] == [UNIT_B]
    assert services.region_dashboard(people["admin"], None) is None
    assert services.region_dashboard(people["admin"], "440000", year=2026).learners == 2
    with pytest.raises(InvalidInput):
        services.region_dashboard(people["admin"], "999999")


def test_an_admin_who_also_audits_one_region_lands_on_it(ctx, db_session, make_user):
    from lms.accounts import services as accounts

    admin = make_user(roles=(Role.ADMIN,))
    assert services.authorize_region(admin, None) is None  # an admin alone chooses
    accounts.grant_role(None, admin, Role.HR_AUDITOR, region_code="440000")
    db_session.commit()
    assert services.authorize_region(admin, None).code == "440000"
    assert services.authorize_region(admin, "110000").code == "110000"  # and may still pick any
