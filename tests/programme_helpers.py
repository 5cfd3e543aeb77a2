"""Generated completions across units, departments, regions and domains, for the programme office's
dashboard tests (tests/web/test_programme_pages.py) and its browser test."""

import random
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select

from lms.accounts.models import EmploymentStatus, Organization
from lms.catalog.models import Course, CourseStatus, Subject
from lms.credits import services as ledger
from tests.conftest import credit_code

# (credit code, unit name, region, supervising department; None: not chosen)
UNITS = [
    (credit_code("91110108MA01PLA10"), "京信息技术研究院", "110000", "工业和信息化部"),
    (credit_code("91110108MA01PLA20"), "京装备制造公司", "110000", "工业和信息化部"),
    (credit_code("91110108MA01PLA30"), "京师范学院", "110000", "教育部"),
    (credit_code("91440101MA01PLA40"), "粤应急救援中心", "440000", "应急管理部"),
    (credit_code("91440101MA01PLA50"), "粤某协会", "440000", "其他"),
    (credit_code("91110108MA01PLA60"), "京未选部门单位", "110000", None),
]
# (course code, subject code): domains digital, ip, cybersecurity, emergency, rural, green and other
COURSES = [("PL-DT-01", "digital"), ("PL-IP-01", "ip"), ("PL-NS-01", "cybersecurity"), ("PL-EM-01", "emergency"),
           ("PL-RU-01", "rural"), ("PL-GR-01", "green"), ("PL-ZZ-01", "politics"), ("PL-DT-02", "digital")]


def courses(db_session) -> list[Course]:
    publisher = db_session.scalar(select(Course).where(Course.code == "GX-NS-001")).publisher
    made = []
    for code, subject_code in COURSES:
        subject = db_session.scalar(select(Subject).where(Subject.code == subject_code))
        course = Course(code=code, version=1, title=f"{subject.name}专题 {code}", subject_id=subject.id,
                        category="public", credit_hours=Decimal("1.0"), publisher_id=publisher.id,
                        status=CourseStatus.PUBLISHED)
        db_session.add(course)
        made.append(course)
    db_session.flush()
    return made


def build(db_session, make_user, *, learners=36, seed=17) -> dict:
    """Learners in the units above (a few not approved, a few without a unit), each completing one to
    three of the courses in 2022 (some in 2021), a few records revoked and a few corrected."""
    rng = random.Random(seed)
    made = courses(db_session)
    people = []
    for n in range(learners):
        code, name, region, _department = UNITS[n % len(UNITS)]
        if n % 11 == 10:  # no unit at all
            user = make_user(region=region, employer_credit_code=None, employer_name=None, real_name=f"无单位{n}")
        else:
            user = make_user(region=region, employer_credit_code=code, employer_name=name, real_name=f"学员{n}")
            if n % 7 != 6:  # every seventh is still waiting for the unit's approval
                user.employment_status = EmploymentStatus.APPROVED
        people.append(user)
    for code, _name, _region, department in UNITS:
        org = db_session.scalar(select(Organization).where(Organization.credit_code == code))
        org.supervising_department = department
    db_session.commit()
    records = []
    for user in people:
        for course in rng.sample(made, rng.randint(1, 3)):
            year = 2022 if rng.random() < 0.85 else 2021
            at = datetime(year, rng.randint(2, 11), rng.randint(1, 28), 2, 0)
            records.append(ledger.record_course_completion(user, course, completed_at=at, exam_score=90))
    db_session.commit()
    admin = make_user(roles=("admin",), real_name="计划测试管理员")
    for record in records[::9]:
        ledger.revoke_record(admin, record.id, reason="测试：撤销")
    for record in records[4::13]:
        if record not in records[::9]:
            ledger.correct_record(admin, record.id, reason="测试：更正", hours=Decimal("0.5"))
    db_session.commit()
    return {"learners": people, "courses": made, "admin": admin}
