"""Helpers for the records tests: employees of a unit, and ledger entries written the real way."""

from datetime import datetime

from lms.accounts.models import EmploymentStatus
from lms.credits import services as ledger
from tests.conftest import credit_code
from tests.learning_helpers import course

# Two employers (valid GB 32100 codes) in different provinces.
UNIT_A = credit_code("91110108MA00AAAA0")
UNIT_B = credit_code("91440101MA00BBBB0")


def org(db_session, code: str):
    """The organization with this credit code."""
    from sqlalchemy import select

    from lms.accounts.models import Organization

    return db_session.scalar(select(Organization).where(Organization.credit_code == code))


def employee(make_user, unit_code: str, *, region="110000", approved=True, **kw):
    """A learner who named ``unit_code`` at registration; approved by the unit unless told otherwise."""
    from lms.extensions import db

    user = make_user(region=region, employer_credit_code=unit_code, employer_name=f"单位{unit_code[-4:]}", **kw)
    if approved:
        user.employment_status = EmploymentStatus.APPROVED
        db.session.commit()
    return user


def completion(db_session, user, code="GX-NS-001", at=datetime(2026, 3, 10, 2, 0), score=90, certificate=False):
    """A completion entry in the ledger, as the learning module writes it, with its certificate if asked."""
    record = ledger.record_course_completion(user, course(db_session, code), completed_at=at, exam_score=score)
    if certificate:
        from lms.certificates import services as certificates

        certificates.issue_course_certificate(record)
    db_session.commit()
    return record
