"""Two reviewers deciding one claim at the same moment, each in a POST request of its own on its own
connection to a real (committed) database: one decision is saved, the other is refused with 409, and
the ledger holds one entry whose hours are the claim's ``hours_credited``. On PostgreSQL both load the
claim before either decides (as the review page's POST does), which is how the race broke."""

import threading
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from lms.accounts import services as accounts
from lms.accounts.models import EmploymentStatus, Organization, Role
from lms.claims import services as claims
from lms.claims.models import ClaimStatus, ClaimStep, HourClaim
from lms.core.errors import Conflict
from lms.credits.models import CreditOrigin, CreditRecord
from lms.extensions import db
from tests.claims_helpers import data, upload
from tests.conftest import TEST_PASSWORD, committed_app, credit_code, id_number, session_per_thread

UNIT = credit_code("91110108MA00CCCC0")
_serial = iter(range(300, 900))


@pytest.fixture(scope="module")
def own_app(tmp_path_factory):
    with committed_app(tmp_path_factory.mktemp("claim-races"), "claimraces", packages=()) as application:
        yield application


def _person(name: str, *, unit_admin: bool = False):
    n = next(_serial)
    user = accounts.create_person(None, accounts.PersonData(
        real_name=name, id_number=id_number(f"11010519850101{n:03d}"), password=TEST_PASSWORD,
        mobile=f"136{n:08d}", region_code="110000", employer_name="并发单位", employer_credit_code=UNIT), roles=())
    if unit_admin:
        unit = db.session.scalar(select(Organization).where(Organization.credit_code == UNIT))
        accounts.grant_role(None, user, Role.UNIT_ADMIN, organization=unit)
    else:
        user.employment_status = EmploymentStatus.APPROVED
    return user


def _world(app, decisions):
    """A learner's claim waiting for their unit, and one unit admin per decision; their ids."""
    with app.test_request_context():
        learner = _person("并发学员")
        admins = [_person(f"并发管理{i}", unit_admin=True) for i in range(len(decisions))]
        db.session.flush()
        claim = claims.submit_claim(learner, data(hours="5", kind="training"), [upload()])
        db.session.commit()
        ids = claim.id, [a.id for a in admins]
        db.session.remove()
    return ids


def _race(app, claim_id, admin_ids, decisions):
    postgres = app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql")
    barrier = threading.Barrier(len(admin_ids))
    outcomes, errors = [], []

    def reviewer(admin_id, decision):
        try:
            with app.test_request_context(f"/claims/{claim_id}/review", method="POST"):
                from lms.accounts.models import User

                if not postgres:  # SQLite: the POST's transaction holds the write lock from its first read
                    barrier.wait()
                actor = db.session.get(User, admin_id)
                try:
                    claim = claims.claim_for(actor, claim_id)  # what the route loads first
                    claims.check_reviewer(actor, claim)  # on SQLite the later one is refused here
                    if postgres:
                        barrier.wait()
                    claims.review_claim(actor, claim_id, decision=decision, reason="并发测试")
                    db.session.commit()
                    outcomes.append("saved")
                except Conflict:
                    db.session.rollback()
                    outcomes.append("conflict")
                finally:
                    db.session.remove()
        except Exception as exc:  # reported below
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=reviewer, args=args) for args in zip(admin_ids, decisions, strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    return sorted(outcomes)


@pytest.mark.parametrize("decisions", [("approve", "approve"), ("approve", "reject"), ("reject", "approve")],
                         ids=["approve-approve", "approve-reject", "reject-approve"])
def test_two_reviewers_at_once_one_decision_one_ledger_entry(own_app, monkeypatch, decisions):
    session_per_thread(own_app, monkeypatch)
    claim_id, admin_ids = _world(own_app, decisions)
    assert _race(own_app, claim_id, admin_ids, decisions) == ["conflict", "saved"]
    with own_app.app_context():
        claim = db.session.get(HourClaim, claim_id)
        decided = db.session.scalars(select(ClaimStep.action).where(
            ClaimStep.claim_id == claim_id, ClaimStep.stage == "unit")).all()
        entries = db.session.scalars(select(CreditRecord).where(
            CreditRecord.source_type == "hour_claim", CreditRecord.source_id == str(claim_id))).all()
        assert len(decided) == 1
        if claim.status == ClaimStatus.APPROVED:
            assert decided == ["approved"] and len(entries) == 1
            assert claim.hours_credited == entries[0].hours == Decimal(5)
            assert claim.credit_record_id == entries[0].id
        else:
            assert claim.status == ClaimStatus.REJECTED and decided == ["rejected"] and entries == []
            assert claim.hours_credited is None
        db.session.remove()


def test_the_database_refuses_a_second_ledger_entry_for_one_claim(own_app, monkeypatch):
    session_per_thread(own_app, monkeypatch)
    claim_id, (admin_id,) = _world(own_app, ("approve",))
    with own_app.test_request_context(method="POST"):
        from lms.accounts.models import User
        from lms.credits import services as ledger

        claims.review_claim(db.session.get(User, admin_id), claim_id, decision="approve")
        db.session.commit()
        claim = db.session.get(HourClaim, claim_id)
        with pytest.raises(IntegrityError):
            ledger.record_activity(claim.user, origin=CreditOrigin.EXTERNAL_CLAIM, title=claim.title,
                                   hours=Decimal(1), category=claim.category, day=claim.activity_date,
                                   activity_kind=claim.kind, source=("hour_claim", str(claim_id)))
            db.session.flush()
        db.session.rollback()
        with pytest.raises(Conflict):  # and the service does not try
            claims.credit_claim(db.session.get(User, admin_id), db.session.get(HourClaim, claim_id))
        db.session.rollback()
        count = db.session.scalar(select(func.count()).select_from(CreditRecord).where(
            CreditRecord.source_id == str(claim_id), CreditRecord.origin == CreditOrigin.EXTERNAL_CLAIM))
        assert count == 1
        db.session.remove()
