"""Random inspections as a whole, checked by a stateful property test against the real services and
database: offices freeze, reveal and close plans in any order, draw twice, while inspectors take
roles at and jobs with the bases inspected (before the freeze, between freeze and draw, after the
draw) and record findings. After every step:

- a plan is drawn at most once: one ``inspection.drawn`` event, its targets numbered once, at most
  the plan's number of inspectors per target;
- no inspector was ever put on their own organization: every assignment was, when it was drawn,
  an inspector with no tie to the target (checked at the draw), and the published exclusions hold;
- a closed plan has a result for every task; at most one open plan per scope, population and year.
"""

import itertools

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test
from sqlalchemy import func, select

from lms.accounts import services as accounts
from lms.accounts.models import Organization, Role
from lms.core.audit import AuditEvent
from lms.core.errors import DomainError
from lms.extensions import db
from lms.programme import bases as bases_service
from lms.programme import inspections
from lms.programme.models import InspectionAssignment, InspectionEntry, InspectionPlan
from tests.conftest import credit_code

pytestmark = pytest.mark.usefixtures("ctx")
_worlds = itertools.count(1)
BASES, INSPECTORS = 2, 2  # small: a tie taken after the freeze is often one the draw would hit


class Inspections(RuleBasedStateMachine):
    make_user = None
    office = None

    def __init__(self):
        super().__init__()
        n = next(_worlds)
        self.year = 2000 + n
        self.orgs, self.bases = [], []
        for b in range(BASES):
            base = bases_service.register_base(type(self).office, bases_service.BaseData(
                f"机器基地{n}-{b}", credit_code(f"91110108MA{n:03d}JQ{b}0"), "provincial", "110000", "2020-01-01",
                f"机〔2020〕{n}-{b}号"))
            self.orgs.append(db.session.get(Organization, base.organization_id))
            self.bases.append(base)
        self.inspectors = [type(self).make_user(roles=(Role.INSPECTOR,), real_name=f"机器检查员{n}-{i}")
                           for i in range(INSPECTORS)]
        self.plans: list[InspectionPlan] = []

    def teardown(self):
        """This example's bases and inspectors leave the next example's population and pool."""
        for base in self.bases:
            self._try(lambda b=base: bases_service.withdraw_base(type(self).office, b, "2024-01-01", "机器测试结束"))
        for inspector in self.inspectors:
            for grant in [g for g in inspector.role_grants if g.role == Role.INSPECTOR.value]:
                accounts.revoke_role(None, grant)
        db.session.flush()

    def _plan(self, k):
        return self.plans[k % len(self.plans)] if self.plans else None

    def _try(self, action):
        try:
            with db.session.begin_nested():
                return action()
        except DomainError:
            return None

    @rule(count=st.integers(1, BASES + 1), per=st.integers(1, 2))
    def create_and_freeze(self, count, per):
        office = type(self).office
        plan = self._try(lambda: inspections.create_plan(office, inspections.PlanData(
            "机器抽查", "national", "bases", self.year, count, per)))
        if plan is not None and self._try(lambda: inspections.freeze_plan(office, plan)) is not None:
            self.plans.append(plan)

    @rule(i=st.integers(0, INSPECTORS - 1), b=st.integers(0, BASES - 1), job=st.booleans())
    def tie_to_a_base(self, i, b, job):
        """An inspector becomes the administrator of a base, or takes a job there."""
        if job:
            self.inspectors[i].employer_id = self.orgs[b].id
        else:
            accounts.grant_role(None, self.inspectors[i], Role.BASE_ADMIN, organization=self.orgs[b])
        db.session.flush()

    @rule(i=st.integers(0, INSPECTORS - 1))
    def leave_every_base(self, i):
        inspector = self.inspectors[i]
        inspector.employer_id = None
        for grant in [g for g in inspector.role_grants if g.role == Role.BASE_ADMIN.value]:
            accounts.revoke_role(None, grant)
        db.session.flush()

    @rule(k=st.integers(0, 5), twice=st.booleans())
    def draw(self, k, twice):
        plan = self._plan(k)
        if plan is None:
            return
        drawn = self._try(lambda: inspections.reveal_and_draw(type(self).office, plan))
        if drawn is not None:
            for assignment in plan.assignments:  # at the draw: nobody on their own organization
                assert not inspections.conflicted(assignment.inspector, assignment.entry), \
                    f"{assignment.inspector.real_name} drawn for their own organization"
        if twice:
            assert self._try(lambda: inspections.reveal_and_draw(type(self).office, plan)) is None

    @rule(k=st.integers(0, 5))
    def record_findings(self, k):
        if not self.plans:
            return
        for assignment in self._plan(k).assignments:
            self._try(lambda a=assignment: inspections.record_finding(a.inspector, a, "compliant", ""))

    @rule(k=st.integers(0, 5))
    def close(self, k):
        plan = self._plan(k)
        if plan is None:
            return
        for assignment in plan.assignments:
            if assignment.result is None and inspections.inspector_left(assignment):
                self._try(lambda a=assignment: inspections.mark_not_inspected(type(self).office, a, "已不能检查该对象"))
        self._try(lambda: inspections.close_plan(type(self).office, plan))

    @invariant()
    def drawn_once_and_never_on_their_own(self):
        for plan in self.plans:
            db.session.refresh(plan)
            events = db.session.scalar(select(func.count()).select_from(AuditEvent).where(
                AuditEvent.action == "inspection.drawn", AuditEvent.target_id == str(plan.id)))
            drawn = list(db.session.scalars(select(InspectionEntry).where(
                InspectionEntry.plan_id == plan.id, InspectionEntry.drawn_order.is_not(None))))
            assignments = list(db.session.scalars(select(InspectionAssignment).where(
                InspectionAssignment.plan_id == plan.id)))
            if plan.status in ("drawn", "closed"):
                assert events == 1
                assert sorted(e.drawn_order for e in drawn) == list(range(min(plan.target_count,
                                                                              inspections.population_size(plan))))
            else:
                assert events == 0 and not drawn and not assignments
            positions = {m.user_id: m.position for m in plan.pool}
            for assignment in assignments:
                assert positions[assignment.inspector_id] not in assignment.entry.excluded
            per_entry = [sum(1 for a in assignments if a.entry_id == e.id) for e in drawn]
            assert all(n <= plan.inspectors_per_target for n in per_entry)
            if plan.status == "closed":
                assert all(a.result is not None for a in assignments)
        open_plans = db.session.scalar(select(func.count()).select_from(InspectionPlan).where(
            InspectionPlan.year == self.year, InspectionPlan.status.in_(("frozen", "drawn"))))
        assert open_plans <= 1


def test_one_draw_per_plan_and_no_inspector_on_their_own_organization(app, db_session, make_user, monkeypatch):
    monkeypatch.setitem(app.config, "LMS_INSPECTION_REVEAL_DELAY_HOURS", 0)
    Inspections.make_user = make_user
    Inspections.office = make_user(roles=(Role.PROGRAMME_OFFICE,), real_name="机器项目办")
    run_state_machine_as_test(Inspections, settings=settings(
        max_examples=60, stateful_step_count=20, deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]))
