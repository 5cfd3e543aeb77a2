"""Continuing-education bases (issue 17 item 2): the yearly trained count against an independent SQL
count, the flag below the minimum, evaluations with checked attachments, status changes and
withdrawal in the public history, bad input refused without changes, and who may see and do what
(national and regional programme office, base administrator, inspector, learner, anonymous)."""

import io
import random
import re
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import func, select, text

from lms.accounts.models import EmploymentStatus, OrgKind, Role
from lms.accounts.services import get_or_create_organization
from lms.catalog.models import Course, CourseStatus, Subject
from lms.core.attachments import Upload
from lms.core.audit import AuditEvent
from lms.credits import services as ledger
from lms.programme import bases as service
from lms.programme.models import BaseAttachment, BaseEvaluation, BaseEvent, BaseStatus, ContinuingEducationBase

MEDIA = {}  # the media root of the session's app (set by the autouse fixture below)
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (20, 60, 120)).save(out, "PNG")
    return out.getvalue()


def jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (20, 60, 120)).save(out, "JPEG")
    return out.getvalue()


@pytest.fixture(autouse=True)
def _media_root(app):
    MEDIA["root"] = Path(app.config["LMS_MEDIA_ROOT"])


# ---------------------------------------------------------------- a world of bases

@pytest.fixture
def world(app, db_session, make_user):
    """A national base (北京), a provincial base in 北京 and one in 广东; offices, base admins, an
    inspector and a learner."""
    people = {"national": make_user(roles=(Role.PROGRAMME_OFFICE,), real_name="全国项目办"),
              "beijing": make_user(roles=(Role.PROGRAMME_OFFICE,), region_code="110000", real_name="北京项目办"),
              "inspector": make_user(roles=(Role.INSPECTOR,), real_name="检查员"),
              "learner": make_user(real_name="学员")}
    with app.test_request_context():
        orgs = {key: get_or_create_organization(name, OrgKind.PUBLISHER) for key, name in
                (("nat", "国家级测试基地"), ("bj", "北京省级测试基地"), ("gd", "广东省级测试基地"))}
        db_session.flush()
        office = people["national"]
        bases = {
            "nat": service.register_base(office, service.BaseData("国家级测试基地", "", "national", "110000",
                                                                  "2019-06-01", "人社部函〔2019〕1号")),
            "bj": service.register_base(office, service.BaseData("北京省级测试基地", "", "provincial", "110000",
                                                                 "2020-03-15", "京人社〔2020〕5号")),
            "gd": service.register_base(office, service.BaseData("广东省级测试基地", "", "provincial", "440000",
                                                                 "2021-09-01", "粤人社〔2021〕8号")),
        }
        db_session.commit()
    people["base-admin"] = make_user(roles=(Role.BASE_ADMIN,), organization=orgs["bj"], real_name="北京基地管理员")
    people["base-admin-other"] = make_user(roles=(Role.BASE_ADMIN,), organization=orgs["gd"], real_name="广东基地管理员")
    return {"people": people, "bases": {k: b.id for k, b in bases.items()}, "orgs": {k: o.id for k, o in orgs.items()}}


def _courses(db_session, org_id: int, prefix: str, n: int) -> list[Course]:
    subject = db_session.scalar(select(Subject).where(Subject.code == "digital"))
    made = []
    for i in range(n):
        course = Course(code=f"{prefix}-{i:02d}", version=1, title=f"{prefix} 课程 {i}", subject_id=subject.id,
                        category="public", credit_hours=Decimal("1.0"), publisher_id=org_id,
                        status=CourseStatus.PUBLISHED)
        db_session.add(course)
        made.append(course)
    db_session.flush()
    return made


@pytest.fixture
def completions(app, db_session, make_user, world):
    """Learners completing courses of the three bases' organizations (and another publisher's) in 2024
    and 2025, some several courses of one base, a few records revoked or corrected."""
    rng = random.Random(2)
    with app.test_request_context():
        courses = {key: _courses(db_session, world["orgs"][key], f"B{key.upper()}", 3) for key in ("nat", "bj", "gd")}
        other = get_or_create_organization("非基地发布机构", OrgKind.PUBLISHER)
        db_session.flush()
        courses["other"] = _courses(db_session, other.id, "BOTHER", 2)
        db_session.commit()
    learners = [make_user(real_name=f"基地学员{n}", region="110000" if n % 2 else "440000") for n in range(30)]
    with app.test_request_context():
        records = []
        pool = [c for group in courses.values() for c in group]
        for user in learners:
            user.employment_status = EmploymentStatus.APPROVED
            for course in rng.sample(pool, rng.randint(1, 4)):
                year = 2025 if rng.random() < 0.8 else 2024
                at = datetime(year, rng.randint(2, 11), rng.randint(1, 28), 2, 0)
                records.append(ledger.record_course_completion(user, course, completed_at=at, exam_score=90))
        db_session.commit()
        admin = make_user(roles=(Role.ADMIN,), real_name="基地测试管理员")
        for record in records[::7]:
            ledger.revoke_record(admin, record.id, reason="测试：撤销")
        for record in records[3::11]:
            if record not in records[::7]:
                ledger.correct_record(admin, record.id, reason="测试：更正", hours=Decimal("0.5"))
        db_session.commit()
    return courses


INDEPENDENT = """
SELECT b.id, COUNT(DISTINCT r.user_id)
FROM ce_base b
JOIN course c ON c.publisher_id = b.organization_id
JOIN credit_record r ON r.course_id = c.id
WHERE r.credit_year = :year AND r.entry_kind <> 'revocation'
  AND NOT EXISTS (SELECT 1 FROM credit_record v WHERE v.voids_id = r.id)
GROUP BY b.id
"""


def test_trained_counts_equal_an_independent_sql_count(app, db_session, world, completions):
    with app.test_request_context():
        for year in (2025, 2024, 2023, 2022):
            expected = dict(db_session.execute(text(INDEPENDENT), {"year": year}).all())
            _year, rows = service.managed_bases(world["people"]["national"], year)
            got = {s.base.id: s.trained for s in rows if s.trained}
            assert got == expected, year
    assert sum(expected.values()) == 0  # nothing in 2022 (a rule's cycle may credit early 2024 to 2023)
    with app.test_request_context():
        _year, rows = service.managed_bases(world["people"]["national"], 2025)
    assert all(s.trained > 0 for s in rows)  # every base has learners in 2025


def test_a_base_below_its_minimum_is_flagged(app, client, login, db_session, world, completions, monkeypatch):
    expected = dict(db_session.execute(text(INDEPENDENT), {"year": 2025}).all())
    bj, gd = world["bases"]["bj"], world["bases"]["gd"]
    # The provincial minimum between the two provincial bases' counts: one above it, one below.
    low, high = sorted((expected[bj], expected[gd]))
    assert low < high
    monkeypatch.setitem(app.config, "LMS_BASE_MIN_PROVINCIAL", high)
    login(world["people"]["national"])
    html = client.get("/programme/bases/manage?year=2025").get_data(as_text=True)
    below = re.findall(r'<tr data-base="(\d+)" data-below="yes"', html)
    above = re.findall(r'<tr data-base="(\d+)" data-below="no"', html)
    low_base = bj if expected[bj] == low else gd
    assert set(below) == {str(low_base), str(world["bases"]["nat"])}  # the national base: far below 2,000
    assert above == [str(gd if low_base == bj else bj)]
    assert html.index(f'data-base="{low_base}"') < html.index(f'data-base="{above[0]}"')  # flagged first
    assert "未达标" in html and f"/ {high} 人" in html and "/ 2000 人" in html
    page = client.get(f"/programme/bases/{low_base}/manage").get_data(as_text=True)
    assert 'data-year="2025" data-below="yes"' in page and "低于最低要求" in page


# ---------------------------------------------------------------- evaluations and withdrawal, public history

def _token(client, csrf_token, url: str) -> str:
    return csrf_token(client.get(url).get_data(as_text=True))


def _evaluation(**changes) -> dict:
    data = {"eval-year": "2025", "eval-score": "86.5", "eval-result": "qualified", "eval-evaluator": "专家评估组",
            "eval-evaluated_on": "2025-12-20", "eval-note": "年度考核"}
    data.update(changes)
    return data


def test_an_evaluation_and_a_withdrawal_show_in_the_public_history(app, client, login, db_session, world, csrf_token,
                                                                    client_factory):
    base_id = world["bases"]["bj"]
    login(world["people"]["beijing"])  # the regional office manages its region's provincial base
    url = f"/programme/bases/{base_id}/manage"
    token = _token(client, csrf_token, url)
    sent = client.post(f"/programme/bases/{base_id}/evaluations", data={
        **_evaluation(), "csrf_token": token,
        "eval-attachments": [(io.BytesIO(PDF), "评估报告.pdf"), (io.BytesIO(png()), "现场.png"),
                             (io.BytesIO(jpeg()), "签到.jpg")]})
    assert sent.status_code == 303, sent.get_data(as_text=True)
    evaluation = db_session.scalar(select(BaseEvaluation).where(BaseEvaluation.base_id == base_id))
    assert evaluation.score == Decimal("86.50") and evaluation.result == "qualified"
    assert sorted(a.content_type for a in evaluation.attachments) == ["application/pdf", "image/jpeg", "image/png"]
    stored = next(a for a in evaluation.attachments if a.filename == "评估报告.pdf")
    assert (MEDIA["root"] / stored.path).read_bytes() == PDF
    sent = client.post(f"/programme/bases/{base_id}/status", data={
        "csrf_token": token, "status-status": "under_evaluation", "status-on": "2026-01-10", "status-note": "复核"})
    assert sent.status_code == 303
    sent = client.post(f"/programme/bases/{base_id}/withdraw", data={
        "csrf_token": token, "withdraw-on": "2026-02-01", "withdraw-reason": "连续两年未达到培训人数要求"})
    assert sent.status_code == 303
    actions = db_session.scalars(select(AuditEvent.action).where(AuditEvent.target_type == "ContinuingEducationBase",
                                                                 AuditEvent.target_id == str(base_id))).all()
    assert sorted(actions) == ["base.evaluated", "base.registered", "base.status_changed", "base.withdrawn"]

    anonymous = client_factory()
    history = anonymous.get(f"/programme/bases/{base_id}")
    html = history.get_data(as_text=True)
    assert history.status_code == 200
    kinds = re.findall(r'data-kind="(\w+)"', html)
    assert kinds == ["withdrawn", "status_changed", "evaluated", "recognised"]  # newest first
    assert "连续两年未达到培训人数要求" in html and "结果：合格" in html and "2025 年度" in html
    assert "86.5" not in html and "专家评估组" not in html and "评估报告.pdf" not in html  # not public
    listing = anonymous.get("/programme/bases?status=withdrawn").get_data(as_text=True)
    assert "北京省级测试基地" in listing and 'data-status="withdrawn"' in listing and "广东省级测试基地" not in listing
    assert "广东省级测试基地" in anonymous.get("/programme/bases?q=广东").get_data(as_text=True)
    assert 'id="no-bases"' in anonymous.get("/programme/bases?level=nonsense").get_data(as_text=True)

    # A withdrawn base takes no further evaluation, status change or withdrawal.
    again = client.post(f"/programme/bases/{base_id}/evaluations",
                        data={**_evaluation(**{"eval-year": "2026", "eval-evaluated_on": "2026-03-01"}),
                              "csrf_token": token})
    assert again.status_code == 409 and "已被撤销认定" in again.get_data(as_text=True)
    assert db_session.scalar(select(func.count()).select_from(BaseEvaluation)
                             .where(BaseEvaluation.base_id == base_id)) == 1


def _attachment_of(db_session, app, world) -> int:
    with app.test_request_context():
        base = db_session.get(ContinuingEducationBase, world["bases"]["bj"])
        evaluation = service.record_evaluation(world["people"]["national"], base, service.EvaluationData(
            "2025", "90", "excellent", "专家组", "2025-12-01"), [Upload("报告.pdf", io.BytesIO(PDF))])
        db_session.commit()
        return evaluation.attachments[0].id


@pytest.mark.parametrize(("who", "status"), [
    ("national", 200), ("beijing", 200), ("base-admin", 200), ("base-admin-other", 403), ("inspector", 403),
    ("learner", 403), ("anonymous", 302)])
def test_attachments_are_downloads_for_authorized_people_only(app, client, login, db_session, world, who, status):
    attachment = _attachment_of(db_session, app, world)
    if who != "anonymous":
        login(world["people"][who])
    response = client.get(f"/programme/bases/attachments/{attachment}")
    assert response.status_code == status
    if status == 200:
        assert response.get_data() == PDF and response.mimetype == "application/pdf"
        assert response.headers["Content-Disposition"].startswith("attachment;")
        assert "no-store" in response.headers["Cache-Control"]
        assert response.headers["X-Content-Type-Options"] == "nosniff"
    elif status == 302:
        assert "/login" in response.headers["Location"]


def test_files_of_an_evaluation_whose_transaction_does_not_commit_are_not_left_behind(app, db_session, world):
    """The files are written before the rows that lead to them; when the transaction then fails
    (here rolled back after the evaluation was recorded, as after a commit that fails), they go
    too. Once committed, they stay."""
    files = MEDIA["root"] / "base-evaluations"
    before = set(files.rglob("*")) if files.exists() else set()
    with app.test_request_context():
        base = db_session.get(ContinuingEducationBase, world["bases"]["bj"])
        evaluation = service.record_evaluation(world["people"]["national"], base, service.EvaluationData(
            "2025", "90", "excellent", "专家组", "2025-12-01"), [Upload("报告.pdf", io.BytesIO(PDF)),
                                                              Upload("照片.png", io.BytesIO(png()))])
        written = {MEDIA["root"] / a.path for a in evaluation.attachments}
        assert len(written) == 2 and all(path.exists() for path in written)
        db_session.rollback()
    assert not any(path.exists() for path in written)
    assert {p for p in files.rglob("*") if p.is_file()} == {p for p in before if p.is_file()}
    kept = _attachment_of(db_session, app, world)
    assert (MEDIA["root"] / db_session.get(BaseAttachment, kept).path).exists()


# ---------------------------------------------------------------- bad input changes nothing

def _state(db_session) -> tuple:
    files = MEDIA["root"] / "base-evaluations"
    return (db_session.scalar(select(func.count()).select_from(BaseEvaluation)),
            db_session.scalar(select(func.count()).select_from(BaseAttachment)),
            db_session.scalar(select(func.count()).select_from(BaseEvent)),
            db_session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action.like("base.%"))),
            tuple(db_session.execute(select(ContinuingEducationBase.id, ContinuingEducationBase.status)
                                     .order_by(ContinuingEducationBase.id)).all()),
            sorted(str(p) for p in files.rglob("*") if p.is_file()) if files.exists() else [])


BAD_EVALUATIONS = [
    ({"eval-evaluated_on": "2025-02-30"}, [], "有效日期"),
    ({"eval-evaluated_on": "20251220"}, [], "有效日期"),
    ({"eval-evaluated_on": "2099-01-01"}, [], "不能晚于今天"),
    ({"eval-evaluated_on": "2019-01-01"}, [], "不能早于基地的认定日期"),
    ({"eval-score": "101"}, [], "0–100"),
    ({"eval-score": "-1"}, [], "0–100"),
    ({"eval-score": "八十"}, [], "0–100"),
    ({"eval-score": "80.125"}, [], "两位小数"),
    ({"eval-score": "NaN"}, [], "0–100"),
    ({"eval-year": "二〇二五"}, [], "四位数字"),
    ({"eval-year": "2018"}, [], "不能早于基地的认定年度"),
    ({"eval-result": "perfect"}, [], "请从列表中选择"),
    ({"eval-evaluator": "  "}, [], "请填写评估单位或专家组"),
    ({}, [("png-named-pdf.pdf", "png")], "的内容是 PNG，与扩展名不符"),
    ({}, [("photo.png", "pdf")], "的内容是 PDF，与扩展名不符"),
    ({}, [("photo.jpg", "png")], "的内容是 PNG，与扩展名不符"),
    ({}, [("drawing.svg", "svg")], "不接受 SVG"),
    ({}, [("drawing.png", "svg")], "不接受 SVG"),
    ({}, [("notes.txt", "text")], "类型不受支持"),
    ({}, [("empty.pdf", "empty")], "是空文件"),
    ({}, [("notes.pdf", "text")], "不是有效的 PDF"),
    ({}, [("ok.pdf", "pdf"), ("cut.pdf", "truncated")], "不是完整的 PDF"),
    ({}, [("ok.pdf", "pdf"), ("huge.pdf", "huge")], "超过 1 MB"),
]
CONTENT = {"png": png, "pdf": lambda: PDF, "svg": lambda: SVG, "text": lambda: b"hello", "empty": lambda: b"", "truncated": lambda: PDF[:-7],
           "huge": lambda: PDF[:-7] + b"\0" * (1024 * 1024) + b"\n%%EOF\n"}


@pytest.mark.parametrize(("changes", "files", "message"), BAD_EVALUATIONS,
                         ids=[f"{m}-{i}" for i, (_c, _f, m) in enumerate(BAD_EVALUATIONS)])
def test_a_bad_evaluation_says_why_and_changes_nothing(app, client, login, db_session, world, csrf_token,
                                                       monkeypatch, changes, files, message):
    monkeypatch.setitem(app.config, "LMS_BASE_ATTACHMENT_MAX_MB", 1)
    base_id = world["bases"]["bj"]
    login(world["people"]["national"])
    token = _token(client, csrf_token, f"/programme/bases/{base_id}/manage")
    before = _state(db_session)
    data = {**_evaluation(**changes), "csrf_token": token,
            "eval-attachments": [(io.BytesIO(CONTENT[kind]()), name) for name, kind in files]}
    sent = client.post(f"/programme/bases/{base_id}/evaluations", data=data)
    html = sent.get_data(as_text=True)
    assert sent.status_code == 400, html[:500]
    assert message in html and "Traceback" not in html
    db_session.expire_all()
    assert _state(db_session) == before


@pytest.mark.parametrize(("url", "data", "message"), [
    ("withdraw", {"withdraw-on": "2026-02-01", "withdraw-reason": ""}, "请填写撤销原因"),
    ("withdraw", {"withdraw-on": "2026-02-01", "withdraw-reason": "不好"}, "至少 4 个字"),
    ("withdraw", {"withdraw-on": "2026-13-01", "withdraw-reason": "未达到培训人数要求"}, "有效日期"),
    ("status", {"status-status": "withdrawn", "status-on": "2026-02-01"}, "撤销认定请使用"),
    ("status", {"status-status": "recognised", "status-on": "2026-02-01"}, "当前已是"),
    ("status", {"status-status": "under_evaluation", "status-on": "yesterday"}, "有效日期"),
])
def test_bad_withdrawals_and_status_changes_change_nothing(client, login, db_session, world, csrf_token, url, data,
                                                           message):
    base_id = world["bases"]["gd"]
    login(world["people"]["national"])
    token = _token(client, csrf_token, f"/programme/bases/{base_id}/manage")
    before = _state(db_session)
    sent = client.post(f"/programme/bases/{base_id}/{url}", data={**data, "csrf_token": token})
    assert sent.status_code == 400 and message in sent.get_data(as_text=True)
    db_session.expire_all()
    assert _state(db_session) == before


@pytest.mark.parametrize(("data", "message"), [
    ({"base-recognised_on": "2022-02-29"}, "有效日期"),
    ({"base-organization_name": ""}, "请填写机构名称"),
    ({"base-document_number": ""}, "请填写认定文号"),
    ({"base-level": "municipal"}, "请从列表中选择"),
    ({"base-region_code": ""}, "省级基地须选择所在地区"),
    ({"base-credit_code": "91110108MA00AAAA00"}, "统一社会信用代码"),
    ({"base-organization_name": "北京省级测试基地"}, "已登记为继续教育基地"),
])
def test_bad_registrations_change_nothing(client, login, db_session, world, csrf_token, data, message):
    login(world["people"]["national"])
    token = _token(client, csrf_token, "/programme/bases/manage")
    before = _state(db_session)
    form = {"base-organization_name": "新的测试基地", "base-credit_code": "", "base-level": "provincial",
            "base-region_code": "110000", "base-recognised_on": "2023-05-01", "base-document_number": "京人社〔2023〕1号",
            "csrf_token": token, **data}
    sent = client.post("/programme/bases/manage", data=form)
    assert sent.status_code in (400, 409) and message in sent.get_data(as_text=True), sent.get_data(as_text=True)[:400]
    db_session.expire_all()
    assert _state(db_session) == before


# ---------------------------------------------------------------- who sees and does what

def test_the_regional_office_manages_its_provincial_bases_only(client, login, db_session, world, csrf_token):
    bases = world["bases"]
    login(world["people"]["beijing"])
    html = client.get("/programme/bases/manage").get_data(as_text=True)
    assert re.findall(r'<tr data-base="(\d+)"', html) == [str(bases["bj"])]
    assert client.get(f"/programme/bases/{bases['bj']}/manage").status_code == 200
    assert client.get(f"/programme/bases/{bases['nat']}/manage").status_code == 403  # national, though in 北京
    assert client.get(f"/programme/bases/{bases['gd']}/manage").status_code == 403
    token = _token(client, csrf_token, "/programme/bases/manage")
    before = _state(db_session)
    for key in ("nat", "gd"):
        sent = client.post(f"/programme/bases/{bases[key]}/withdraw",
                           data={"csrf_token": token, "withdraw-on": "2026-02-01", "withdraw-reason": "越权撤销测试"})
        assert sent.status_code == 403
    form = {"csrf_token": token, "base-organization_name": "京新基地", "base-level": "national",
            "base-region_code": "110000", "base-recognised_on": "2023-05-01", "base-document_number": "京〔2023〕2号"}
    sent = client.post("/programme/bases/manage", data=form)
    assert sent.status_code == 403 and "国家级基地由全国项目办登记" in sent.get_data(as_text=True)
    sent = client.post("/programme/bases/manage", data={**form, "base-level": "provincial", "base-region_code": "440000"})
    assert sent.status_code == 403
    db_session.expire_all()
    assert _state(db_session) == before
    sent = client.post("/programme/bases/manage", data={**form, "base-level": "provincial"})
    assert sent.status_code == 303
    assert db_session.scalar(select(func.count()).select_from(ContinuingEducationBase)) == 4


def test_the_national_office_sees_and_manages_every_base(client, login, world):
    login(world["people"]["national"])
    html = client.get("/programme/bases/manage").get_data(as_text=True)
    assert sorted(re.findall(r'<tr data-base="(\d+)"', html)) == sorted(str(b) for b in world["bases"].values())
    assert 'id="register-h"' in html  # the registration form
    for base_id in world["bases"].values():
        page = client.get(f"/programme/bases/{base_id}/manage").get_data(as_text=True)
        assert f'action="/programme/bases/{base_id}/withdraw"' in page


def test_a_base_administrator_sees_their_own_base_and_changes_nothing(client, login, db_session, world, csrf_token):
    bases = world["bases"]
    login(world["people"]["base-admin"])
    html = client.get("/programme/bases/manage").get_data(as_text=True)
    assert re.findall(r'<tr data-base="(\d+)"', html) == [str(bases["bj"])]
    assert 'id="register-h"' not in html
    page = client.get(f"/programme/bases/{bases['bj']}/manage")
    assert page.status_code == 200 and "/withdraw" not in page.get_data(as_text=True)
    assert client.get(f"/programme/bases/{bases['gd']}/manage").status_code == 403
    token = _token(client, csrf_token, "/programme/bases/manage")
    before = _state(db_session)
    assert client.post(f"/programme/bases/{bases['bj']}/evaluations",
                       data={**_evaluation(), "csrf_token": token}).status_code == 403
    assert client.post("/programme/bases/manage", data={"csrf_token": token}).status_code == 403
    db_session.expire_all()
    assert _state(db_session) == before


@pytest.mark.parametrize("who", ["inspector", "learner", "anonymous"])
def test_inspectors_learners_and_visitors_see_only_the_public_pages(client, login, world, who):
    if who != "anonymous":
        login(world["people"][who])
    base_id = world["bases"]["nat"]
    assert client.get("/programme/bases").status_code == 200
    assert client.get(f"/programme/bases/{base_id}").status_code == 200
    assert client.get("/programme/bases/999999").status_code == 404
    expected = 302 if who == "anonymous" else 403
    assert client.get("/programme/bases/manage").status_code == expected
    assert client.get(f"/programme/bases/{base_id}/manage").status_code == expected


def test_the_public_list_shows_every_base_with_its_status(client, world):
    assert 'href="/programme/bases"' in client.get("/").get_data(as_text=True)  # linked from every page's footer
    html = client.get("/programme/bases").get_data(as_text=True)
    assert sorted(re.findall(r'<tr data-base="(\d+)"', html)) == sorted(str(b) for b in world["bases"].values())
    assert html.count('data-status="recognised"') == 3 and "人社部函〔2019〕1号" in html
    assert "国家级" in html and "省级" in html
    assert BaseStatus.RECOGNISED.label in html


def test_the_managed_list_takes_as_many_statements_with_more_bases(app, db_session, world):
    from sqlalchemy import event

    from lms.extensions import db

    office = world["people"]["national"]

    def statements() -> int:
        db_session.expire_all()  # each measure starts from nothing loaded (the office's grants too)
        seen = []
        listener = lambda *args: seen.append(args[2])  # noqa: E731
        event.listen(db.session.get_bind(), "before_cursor_execute", listener)
        try:
            with app.test_request_context():
                _year, rows = service.managed_bases(office, 2025)
                [(s.base.organization.name, s.base.region and s.base.region.name) for s in rows]
        finally:
            event.remove(db.session.get_bind(), "before_cursor_execute", listener)
        return len([sql for sql in seen if sql.lstrip().upper().startswith("SELECT")])  # not the test's savepoints

    before = statements()
    with app.test_request_context():
        for n in range(4):
            get_or_create_organization(f"新增基地{n}", OrgKind.PUBLISHER)
            db_session.flush()
            service.register_base(office, service.BaseData(f"新增基地{n}", "", "provincial", "440000", "2022-01-01",
                                                           f"粤人社〔2022〕{n}号"))
        db_session.commit()
    assert statements() == before


def test_a_regional_office_cannot_adopt_another_regions_or_a_differently_named_organization(app, db_session, world):
    """F5: the credit code of another region's employer, or an existing name of another region, is
    refused with a message; nothing is registered."""
    from lms.core.errors import InvalidInput
    from tests.conftest import credit_code

    code = credit_code("91310000MA01XHAB0")
    with app.test_request_context():
        get_or_create_organization("上海某公司", OrgKind.EMPLOYER, credit_code=code, region_code="310000")
        db_session.commit()
        office = world["people"]["beijing"]
        before = db_session.scalar(select(func.count()).select_from(ContinuingEducationBase))
        with pytest.raises(InvalidInput) as typed_other_name:
            service.register_base(office, service.BaseData("随便写的名字", code, "provincial", "110000", "2021-01-01",
                                                           "京人社〔2021〕1号"))
        assert "上海某公司" in typed_other_name.value.message and typed_other_name.value.field == "organization_name"
        with pytest.raises(InvalidInput) as other_region:
            service.register_base(office, service.BaseData("上海某公司", code, "provincial", "110000", "2021-01-01",
                                                           "京人社〔2021〕1号"))
        assert "310000" in other_region.value.message
        with pytest.raises(InvalidInput):
            service.register_base(office, service.BaseData("上海某公司", "", "provincial", "110000", "2021-01-01",
                                                           "京人社〔2021〕1号"))
        assert db_session.scalar(select(func.count()).select_from(ContinuingEducationBase)) == before
