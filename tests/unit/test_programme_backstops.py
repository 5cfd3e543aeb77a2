"""The database itself refuses what the programme office's locks are there to prevent, should a race
ever get past them (migration progattack01): a second withdrawal line in a base's history, a second
entry of one institution (by name or by credit code), a second open plan of one scope, population
and year, and a second draw of one plan. Rows are written here directly, as a lost race would."""

from datetime import date

import pytest
from sqlalchemy.exc import IntegrityError

from lms.accounts.models import Role
from lms.programme import bases as bases_service
from lms.programme import inspections
from lms.programme.models import BaseEvent, InspectionEntry, InspectionPlan, Institution
from tests.conftest import credit_code


@pytest.fixture
def office(make_user):
    return make_user(roles=(Role.PROGRAMME_OFFICE,), real_name="全国项目办")


def _refused(db_session, *rows):
    with pytest.raises(IntegrityError), db_session.begin_nested():
        db_session.add_all(rows)
        db_session.flush()


def test_a_base_has_one_withdrawal_line(app, db_session, office):
    with app.test_request_context():
        base = bases_service.register_base(office, bases_service.BaseData(
            "防重基地", credit_code("91110108MA01FCJ10"), "provincial", "110000", "2020-01-01", "文〔2020〕1号"))
        bases_service.withdraw_base(office, base, "2024-01-01", "年度评估不合格")
        _refused(db_session, BaseEvent(base_id=base.id, occurred_on=date(2024, 2, 1), kind="withdrawn",
                                       status="withdrawn", note="再次撤销"))
        # Other kinds of line repeat freely.
        for _n in range(2):
            db_session.add(BaseEvent(base_id=base.id, occurred_on=date(2024, 3, 1), kind="status_changed",
                                     status="withdrawn"))
        db_session.flush()


def test_an_institution_is_in_the_directory_once_by_name_and_by_credit_code(app, db_session):
    code = credit_code("91110108MA01FCJ20")

    def entry(n, name, credit=None, kind="training"):
        return Institution(code=f"T11000000{n:02d}X", kind=kind, name=name, credit_code=credit, region_code="110000",
                           fields=",ai,", status="active")

    db_session.add_all([entry(1, "防重机构", code), entry(2, "无代码机构甲"), entry(3, "无代码机构乙"),
                        entry(4, "防重机构", code, kind="evaluation")])
    db_session.flush()
    _refused(db_session, entry(5, "防重机构"))
    _refused(db_session, entry(6, "另一个名字", code))


def test_one_open_plan_per_scope_population_and_year_and_one_draw_per_plan(app, db_session, office):
    def plan(status):
        return InspectionPlan(title="防重计划", scope="national", region_code=None, population="bases", year=2024,
                              target_count=1, inspectors_per_target=1, status=status, created_by_id=office.id)

    first = plan("frozen")
    db_session.add_all([first, plan("closed"), plan("closed"), plan("draft"), plan("draft")])
    db_session.flush()
    _refused(db_session, plan("drawn"))
    _refused(db_session, plan("frozen"))
    db_session.add_all([InspectionEntry(plan_id=first.id, position=n, public_id=f"B{n}", label="", ref_id=n,
                                        organization_id=None, excluded=[], drawn_order=None if n > 1 else n)
                        for n in range(4)])
    db_session.flush()
    with pytest.raises(IntegrityError), db_session.begin_nested():
        db_session.add(InspectionEntry(plan_id=first.id, position=9, public_id="B9", label="", ref_id=9,
                                       organization_id=None, excluded=[], drawn_order=0))
        db_session.flush()
    assert inspections.population_size(first) == 4
