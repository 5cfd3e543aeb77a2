"""Rule-set caps on claimed hours, as a stateful property test against the real services and database.

One learner with a confirmed unit submits claims of every kind over two credit years; the unit admin
and (where the rule set asks) the region's auditor approve, reduce and reject them in any order,
sometimes out of turn. After every step, for each credit year:

- the ledger's external-claim hours of each kind are at most the rule's cap for that kind, and all of
  them at most the rule's yearly cap for claims;
- no entry holds more than its claim's approved hours, the ledger agrees with what each claim says
  was credited, and a claim credited less than approved says why;
- nothing approved is lost below the caps: either every kind got min(cap, hours approved), or the
  yearly cap is full — whatever the order of submissions and decisions.
"""

import itertools
from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from lms.accounts.models import Role
from lms.claims import services as claims
from lms.claims.models import ClaimStatus
from lms.core.errors import DomainError
from lms.credits import services as ledger
from lms.credits.models import ClaimKind, CreditOrigin
from lms.extensions import db
from tests.claims_helpers import data, upload
from tests.claims_helpers import rule as region_rule
from tests.conftest import id_number
from tests.records_helpers import UNIT_A, employee, org

pytestmark = pytest.mark.usefixtures("ctx")

CAPS = {"paper": Decimal(20), "conference": Decimal(12)}  # training and other: no cap of their own
YEAR_CAP = Decimal(30)
YEARS = (2025, 2026)

_learners = itertools.count(1)


def new_learner(make_user):
    n = next(_learners)
    born = date(1970, 1, 1) + timedelta(days=n // 1000)
    return employee(make_user, UNIT_A, id_number=id_number(f"320102{born:%Y%m%d}{n % 1000:03d}"),
                    mobile=f"138{n:08d}")


class ClaimCaps(RuleBasedStateMachine):
    """Set by the test before running: the learner factory, the unit admin and the region's auditor."""

    make_user = None
    unit_admin = None
    auditor = None

    claims = Bundle("claims")

    def __init__(self):
        super().__init__()
        self.learner = new_learner(type(self).make_user)

    @initialize(region_confirms=st.booleans())
    def rules(self, region_confirms):
        region_rule(db.session, caps=",".join(f"{k}:{v}" for k, v in CAPS.items()), year_cap=YEAR_CAP,
                    region_confirms=region_confirms)

    @rule(target=claims, kind=st.sampled_from([k.value for k in ClaimKind]),
          halves=st.integers(min_value=1, max_value=30), year=st.sampled_from(YEARS))
    def submit(self, kind, halves, year):
        hours = Decimal(halves) / 2
        self.submitted = getattr(self, "submitted", 0) + 1  # each claim another activity (one activity, one claim)
        claim = claims.submit_claim(self.learner, data(kind=kind, hours=str(hours), day=date(year, 6, 1),
                                                       title=f"继续教育活动 {self.submitted}"), [upload()])
        return claim.id

    def _decide(self, reviewer, claim_id, decision, cut_halves):
        claim = db.session.get(claims.HourClaim, claim_id)
        before = (claim.status, claim.hours_approved, claim.hours_credited, len(claim.steps))
        current = claim.hours_approved if claim.hours_approved is not None else claim.hours_claimed
        hours = current - Decimal(cut_halves) / 2
        try:
            with db.session.begin_nested():
                claims.review_claim(reviewer, claim_id, decision=decision, hours=str(hours),
                                    reason="" if decision == "approve" else "核减或不予认定的原因")
        except DomainError:
            db.session.expire_all()
            claim = db.session.get(claims.HourClaim, claim_id)
            assert (claim.status, claim.hours_approved, claim.hours_credited, len(claim.steps)) == before

    decisions = st.sampled_from(["approve", "approve", "reduce", "reject"])

    @rule(claim_id=claims, decision=decisions, cut_halves=st.integers(min_value=0, max_value=12))
    def unit_decides(self, claim_id, decision, cut_halves):
        self._decide(type(self).unit_admin, claim_id, decision, cut_halves)

    @rule(claim_id=claims, decision=decisions, cut_halves=st.integers(min_value=0, max_value=12))
    def region_decides(self, claim_id, decision, cut_halves):
        self._decide(type(self).auditor, claim_id, decision, cut_halves)

    @invariant()
    def caps_hold_and_nothing_is_lost_below_them(self):
        mine = claims.my_claims(self.learner)
        for year in YEARS:
            entries = [r for r in ledger.active_records(self.learner.id, year)
                       if r.origin == CreditOrigin.EXTERNAL_CLAIM]
            credited = {k.value: sum((e.hours for e in entries if e.activity_kind == k.value), Decimal(0))
                        for k in ClaimKind}
            total = sum(credited.values(), Decimal(0))
            assert total <= YEAR_CAP, f"{year}: {total} claimed hours over the yearly cap"
            for kind, cap in CAPS.items():
                assert credited[kind] <= cap, f"{year}: {credited[kind]} hours of {kind} over its cap {cap}"
            done = [c for c in mine if c.activity_date.year == year and c.status == ClaimStatus.APPROVED]
            approved = {k.value: sum((c.hours_approved for c in done if c.kind == k.value), Decimal(0))
                        for k in ClaimKind}
            for claim in done:
                assert Decimal(0) <= claim.hours_credited <= claim.hours_approved
                if claim.hours_credited < claim.hours_approved:
                    assert "未计入" in claim.steps[-1].reason
                entry = [e for e in entries if e.source_id == str(claim.id)]
                assert [e.hours for e in entry] == ([claim.hours_credited] if claim.hours_credited else [])
            assert len(entries) == sum(1 for c in done if c.hours_credited)
            full = {k: min(CAPS.get(k, approved[k]), approved[k]) for k in approved}
            assert credited == full or total == YEAR_CAP, (year, credited, full, total)


def test_caps_hold_whatever_the_order_of_submissions_and_decisions(app, db_session, make_user):
    ClaimCaps.make_user = make_user
    ClaimCaps.unit_admin = make_user(roles=(Role.UNIT_ADMIN,), organization=_unit(make_user, db_session),
                                     real_name="甲管理")
    ClaimCaps.auditor = make_user(roles=(Role.HR_AUDITOR,), region_code="110000", real_name="京审")
    run_state_machine_as_test(ClaimCaps, settings=settings(
        max_examples=60, stateful_step_count=30, deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]))


def _unit(make_user, db_session):
    """Unit A (it exists once someone named it at registration)."""
    employee(make_user, UNIT_A, real_name="甲登记人")
    return org(db_session, UNIT_A)
