"""A unit with employees whose 2026 hours are known, for the unit admin and HR auditor tests."""

from datetime import datetime
from decimal import Decimal

from lms.accounts.models import Role
from lms.credits import services as ledger
from lms.credits.models import RuleSet
from tests.records_helpers import UNIT_A, UNIT_B, completion, employee, org


def build(db_session, make_user):
    """Region 110000 requires 4 学时 a year, at least 2 of them public (both demo courses: 2 public 学时).

    Unit A: full (4 public), short (2), none (0), professional (4, none public), revoked (2 after a
    revocation), pending (not yet approved, 4), and last year's (4 in 2025 only). Unit B (440000): one."""
    db_session.add(RuleSet(name="测试：北京", region_code="110000", annual_hours=Decimal(4),
                           public_min_hours=Decimal(2)))
    db_session.commit()
    admin = make_user(roles=(Role.ADMIN,), real_name="平台管理")
    p = {}
    p["full"] = employee(make_user, UNIT_A, real_name="甲全")
    p["short"] = employee(make_user, UNIT_A, real_name="甲缺")
    p["none"] = employee(make_user, UNIT_A, real_name="甲无")
    p["prof"] = employee(make_user, UNIT_A, real_name="甲专")
    p["revoked"] = employee(make_user, UNIT_A, real_name="甲撤")
    p["pending"] = employee(make_user, UNIT_A, approved=False, real_name="待审甲")
    p["lastyear"] = employee(make_user, UNIT_A, real_name="甲去年")
    p["b"] = employee(make_user, UNIT_B, region="440000", real_name="乙一")
    p["b_pending"] = employee(make_user, UNIT_B, region="440000", approved=False, real_name="待审乙")
    for key in ("full", "prof", "revoked", "pending"):
        completion(db_session, p[key], "GX-NS-001")
        completion(db_session, p[key], "GX-DT-002", at=datetime(2026, 4, 2, 2, 0))
    completion(db_session, p["short"], "GX-NS-001")
    completion(db_session, p["b"], "GX-NS-001")
    completion(db_session, p["lastyear"], "GX-NS-001", at=datetime(2025, 6, 1, 2, 0))
    completion(db_session, p["lastyear"], "GX-DT-002", at=datetime(2025, 6, 2, 2, 0))
    for record in ledger.active_records(p["prof"].id):
        ledger.correct_record(admin, record.id, reason="专业科目", category="professional")
    revoked = [r for r in ledger.active_records(p["revoked"].id) if r.course_code == "GX-DT-002"][0]
    ledger.revoke_record(admin, revoked.id, reason="重复学习")
    db_session.commit()
    p["admin"] = admin
    p["unit_a"] = make_user(roles=(Role.UNIT_ADMIN,), organization=org(db_session, UNIT_A), real_name="甲管理")
    p["unit_b"] = make_user(roles=(Role.UNIT_ADMIN,), organization=org(db_session, UNIT_B), real_name="乙管理")
    p["auditor_bj"] = make_user(roles=(Role.HR_AUDITOR,), region_code="110000", real_name="京审")
    p["auditor_gd"] = make_user(roles=(Role.HR_AUDITOR,), region_code="440000", real_name="粤审")
    return p
