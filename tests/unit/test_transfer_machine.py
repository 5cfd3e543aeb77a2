"""Transferred credits as a total, checked by a stateful property test against the real services and
database: a learner presents credentials of another instance — single ones and CLR bundles, repeated,
in any order — while the issuer revokes some and the periodic re-check runs. After every step:

- a credential counts at most once (one standing ledger entry per credential);
- no course counts twice (one standing entry with hours per course code, transferred or completed
  here: a course completed here after its transfer credits nothing, one transferred after it was
  completed here is refused);
- the year's total is exactly the local hours plus the hours of the standing transfers, and every
  standing transfer's credential is one the issuer has not revoked as of the last re-check.
"""

from datetime import datetime
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test
from sqlalchemy import select

from lms.accounts.models import Role
from lms.catalog.models import Course, CourseStatus
from lms.credits import services as ledger
from lms.credits.models import CreditOrigin
from lms.extensions import db
from lms.federation import remote, transfers
from lms.federation.models import CreditTransfer, TransferStatus
from tests.conftest import id_number
from tests.transfer_helpers import FakeIssuer

pytestmark = pytest.mark.usefixtures("ctx")

# Eight credentials over five courses: some courses certified twice (two completions, a reissue).
CREDENTIALS = [(f"A{i:03d}", code, Decimal(hours)) for i, (code, hours) in enumerate(
    [("GX-A-001", "2"), ("GX-A-001", "2"), ("GX-A-002", "1.5"), ("GX-A-003", "3"), ("GX-A-003", "3"),
     ("GX-A-004", "0.5"), ("GX-NS-001", "1"), ("GX-A-005", "4")], start=1)]
_learners = iter(range(1, 1000))


class Transfers(RuleBasedStateMachine):
    make_user = None
    admin = None
    issuer = None

    def __init__(self):
        super().__init__()
        n = next(_learners)
        self.id_number = id_number(f"11010119900101{n:03d}")
        self.learner = type(self).make_user(id_number=self.id_number, mobile=f"136{n:08d}")
        self.issuer = type(self).issuer
        self.issuer.revoked.clear()
        self.tokens = {number: self.issuer.sign(self.issuer.badge(
            self.id_number, f"{number}-{n}", code=code, hours=float(hours), index=n * 10 + i))
            for i, (number, code, hours) in enumerate(CREDENTIALS)}
        self.index = {number: n * 10 + i for i, (number, _code, _hours) in enumerate(CREDENTIALS)}
        self.local_codes: set[str] = set()

    @initialize()
    def trust(self):
        if not transfers.issuers():
            transfers.add_issuer(type(self).admin, self.issuer.issuer_id, self.issuer.name)

    def _present(self, token):
        try:
            with db.session.begin_nested():
                transfers.present_credential(self.learner, token)
        except transfers.TransferRefused:
            pass

    @rule(which=st.integers(min_value=0, max_value=len(CREDENTIALS) - 1))
    def present(self, which):
        self._present(self.tokens[CREDENTIALS[which][0]])

    @rule(which=st.lists(st.integers(min_value=0, max_value=len(CREDENTIALS) - 1), min_size=1, max_size=4))
    def present_bundle(self, which):
        import jwt

        badges = [jwt.decode(self.tokens[CREDENTIALS[i][0]], options={"verify_signature": False}) for i in which]
        self._present(self.issuer.sign(self.issuer.clr(self.id_number, badges)))

    @rule(which=st.integers(min_value=0, max_value=len(CREDENTIALS) - 1))
    def revoke_at_issuer(self, which):
        self.issuer.revoked.add(self.index[CREDENTIALS[which][0]])

    @rule()
    def recheck(self):
        for transfer in transfers.my_transfers(self.learner):
            transfers.recheck_transfer(transfer)

    @rule()
    def complete_here(self):
        """The learner completes, here, a course one of the credentials also certifies."""
        if "GX-NS-001" in self.local_codes:
            return
        course = db.session.scalar(select(Course).where(Course.code == "GX-NS-001",
                                                        Course.status == CourseStatus.PUBLISHED))
        ledger.record_course_completion(self.learner, course, completed_at=datetime(2026, 3, 1, 4), exam_score=None)
        self.local_codes.add("GX-NS-001")

    @invariant()
    def each_credential_and_each_course_counts_once(self):
        records = ledger.active_records(self.learner.id)
        transferred = [r for r in records if r.origin == CreditOrigin.TRANSFERRED]
        sources = [r.source_id for r in transferred]
        assert len(sources) == len(set(sources)), "a transfer counted twice"
        by_id = {str(t.id): t for t in db.session.scalars(select(CreditTransfer).where(
            CreditTransfer.user_id == self.learner.id))}
        credentials = [by_id[s].credential_id for s in sources]
        assert len(credentials) == len(set(credentials)), "a credential counted twice"
        codes = [by_id[s].course_code for s in sources] + [r.course_code for r in records if r.course_code and r.hours]
        assert len(codes) == len(set(codes)), f"a course counted twice: {codes}"
        standing = [t for t in by_id.values() if t.status == TransferStatus.ACCEPTED]
        assert sorted(str(t.id) for t in standing) == sorted(sources)
        total = ledger.year_summary(self.learner, 2026).total
        assert total == sum((r.hours for r in records), Decimal(0))
        assert sum((r.hours for r in transferred), Decimal(0)) == sum((t.hours for t in standing), Decimal(0))


def test_a_credential_and_a_course_count_at_most_once_whatever_the_order(app, db_session, make_user, monkeypatch):
    monkeypatch.setitem(app.config, "LMS_FEDERATION_ALLOW_PRIVATE", True)
    issuer = FakeIssuer()
    monkeypatch.setattr(remote, "fetch_bytes", issuer.fetch)
    Transfers.make_user, Transfers.issuer = make_user, issuer
    Transfers.admin = make_user(roles=(Role.ADMIN,), real_name="乙平台管理员")
    run_state_machine_as_test(Transfers, settings=settings(
        max_examples=40, stateful_step_count=25, deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]))
