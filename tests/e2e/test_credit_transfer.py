"""Credit portability between two real instances on loopback, in a real browser (issue 19 item 3).

Instance A (the issuer) and instance B (the receiver) each have their own database (one SQLite, one
PostgreSQL: B on the database under test), media folder and signing keys, and each is served by a
process of its own (tests/app_process.py). B's admin trusts A with ``flask federation trust-issuer``.

A learner completes courses on A and, in Chromium, downloads a credential from A's 我的证书 and
uploads it on B's 转入其他平台的学时, and brings a second one through a consent link made on A. B's
我的学时 and B's unit export show the hours with their origin. A second transfer of the same
credential, one revoked on A after it was issued and an edited one are refused with their reasons.
Later A revokes a credential B accepted: B's periodic re-check voids the entry, with the reason.
"""

import base64
import csv
import io
import json
import os
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from tests import app_process
from tests.conftest import TEST_PASSWORD, _csrf_token, build_database, credit_code, id_number, make_test_app
from tests.e2e.pages import signed_in_page
from tests.web.test_federation_instances import OTHER_KIND, Instance, _signed_in, database_of_kind, on

pytestmark = pytest.mark.e2e

A_NAME = "甲省专业技术人员继续教育平台"
B_NAME = "乙省专业技术人员继续教育平台"
LEARNER_ID = id_number("32010219850505123")
UNIT = credit_code("91320102MA1TRXN30")
A_LEARNER, A_ADMIN = "13711110001", "13711110002"
B_LEARNER, B_ADMIN, B_UNIT_ADMIN = "13722220001", "13722220002", "13722220003"
COURSES = ("GX-NS-001", "GX-DT-002", "GX-IP-001")


def _person(real_name: str, mobile: str, *, id_no: str | None = None, n: int = 0):
    from lms.accounts import services

    return services.create_person(None, services.PersonData(
        real_name=real_name, id_number=id_no or id_number(f"32010219700101{n:03d}"), password=TEST_PASSWORD,
        mobile=mobile, email=None, region_code="320000", employer_name="江苏示例研究院",
        employer_credit_code=UNIT), roles=())


def _complete(user, code: str) -> None:
    """The learner finishes every lesson and passes the exam; the learning module then writes the
    ledger entry and the certificate (with its signed credential) as for any completion."""
    from lms.core.clock import utcnow_naive
    from lms.extensions import db
    from lms.learning import services as learning
    from lms.learning.models import LessonProgress, QuizAttempt

    enrollment = learning.enroll(user, code)
    now = utcnow_naive()
    for lesson in enrollment.course.lessons:
        if lesson.kind != "quiz":
            db.session.add(LessonProgress(user_id=user.id, lesson_id=lesson.id, enrollment_id=enrollment.id,
                                          completed_at=now - timedelta(minutes=5)))
    db.session.add(QuizAttempt(user_id=user.id, course_id=enrollment.course_id, enrollment_id=enrollment.id,
                               submitted_at=now, score=92, passed=True))
    db.session.flush()
    assert learning.complete_course_if_done(enrollment) is not None


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    kind = os.environ.get("LMS_TEST_DATABASE", "sqlite")
    tmp_a, tmp_b = tmp_path_factory.mktemp("issuer-a"), tmp_path_factory.mktemp("receiver-b")
    port_a, port_b = app_process.free_port(), app_process.free_port()
    processes = []
    with database_of_kind(OTHER_KIND[kind], tmp_a, "a") as url_a, database_of_kind(kind, tmp_b, "b") as url_b:
        settings_a = {"LMS_PUBLIC_URL": f"http://127.0.0.1:{port_a}", "LMS_CERT_ISSUER_NAME": A_NAME}
        settings_b = {"LMS_PUBLIC_URL": f"http://127.0.0.1:{port_b}", "LMS_CERT_ISSUER_NAME": B_NAME,
                      "LMS_FEDERATION_ALLOW_HTTP": True, "LMS_FEDERATION_ALLOW_PRIVATE": True,
                      "LMS_FEDERATION_TIMEOUT_SECONDS": 20, "LMS_TRANSFER_RECHECK_HOURS": 0}
        app_a = make_test_app(url_a, tmp_a, **settings_a)
        build_database(app_a, packages=COURSES)
        app_b = make_test_app(url_b, tmp_b, **settings_b)
        build_database(app_b)
        from lms.accounts.models import EmploymentStatus, Role
        from lms.accounts.services import grant_role

        with on(app_a) as session:
            learner = _person("钱转入", A_LEARNER, id_no=LEARNER_ID)
            grant_role(None, _person("甲平台管理员", A_ADMIN, n=1), Role.ADMIN)
            session.commit()
            for code in COURSES:
                _complete(learner, code)
                session.commit()
        with on(app_b) as session:
            learner = _person("钱转入", B_LEARNER, id_no=LEARNER_ID)
            learner.employment_status = EmploymentStatus.APPROVED
            grant_role(None, _person("乙平台管理员", B_ADMIN, n=2), Role.ADMIN)
            grant_role(None, _person("乙单位管理员", B_UNIT_ADMIN, n=3), Role.UNIT_ADMIN,
                       organization=learner.employer)
            session.commit()
        try:
            processes.append(app_process.start({"database_url": url_a, "tmp_dir": str(tmp_a), **settings_a},
                                               port_a, tmp_a / "server.log"))
            processes.append(app_process.start({"database_url": url_b, "tmp_dir": str(tmp_b), **settings_b},
                                               port_b, tmp_b / "server.log"))
            yield (Instance("a", app_a, f"http://127.0.0.1:{port_a}", processes[0], tmp_a / "server.log"),
                   Instance("b", app_b, f"http://127.0.0.1:{port_b}", processes[1], tmp_b / "server.log"))
        finally:
            for process in processes:
                app_process.stop(process)
            from lms.extensions import db

            for app in (app_a, app_b):
                with app.app_context():
                    db.engine.dispose()


def sign_in(browser: Browser, base: str, mobile: str) -> Page:
    return signed_in_page(browser, base, mobile, accept_downloads=True)


def _number(instance: Instance, code: str) -> str:
    from lms.certificates.models import Certificate

    with on(instance.app) as session:
        return session.scalar(select(Certificate.number).where(Certificate.course_code == code))


def _download_credential(page: Page, base: str, number: str, folder: Path) -> Path:
    page.goto(base + "/me/certificates")
    card = page.locator(f'article[data-number="{number}"]')
    with page.expect_download() as download:
        card.get_by_role("link", name="下载电子凭证").click()
    target = folder / f"{number}.jwt"
    download.value.save_as(target)
    return target


def _present_file(page: Page, base: str, path: Path) -> None:
    page.goto(base + "/me/transfers")
    page.get_by_label("学时凭证文件（.jwt：课程凭证或 CLR 学时档案）").set_input_files(str(path))
    page.get_by_role("button", name="核验并转入").click()


def _edited(path: Path, folder: Path) -> Path:
    header, payload, signature = path.read_text().strip().split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["credentialSubject"]["creditsEarned"] = 40.0
    edited = base64.urlsafe_b64encode(json.dumps(claims, ensure_ascii=False).encode()).rstrip(b"=").decode()
    target = folder / "edited.jwt"
    target.write_text(".".join((header, edited, signature)))
    return target


def _revoke_on_a(a: Instance, number: str) -> None:
    from lms.accounts.services import find_by_login
    from lms.certificates import services as certificates

    with on(a.app) as session:
        certificates.revoke_certificate(find_by_login(A_ADMIN), number, reason="学时记录核查有误")
        session.commit()


def _unit_export(b: Instance) -> list[dict]:
    from lms.exports import records

    with _signed_in(b, B_UNIT_ADMIN) as client:
        token = _csrf_token(client.get("/exports/new").text)
        response = client.post("/exports/new", data={"csrf_token": token, "year": "2026", "unit": UNIT,
                                                     "format": "csv"})
        assert response.status_code == 200, response.text[:500]
        table = list(csv.reader(io.StringIO(response.content[3:].decode("utf-8"), newline="")))
    assert tuple(table[0]) == records.HEADER
    return [dict(zip(records.HEADER, row, strict=True)) for row in table[1:]]


def test_a_learner_brings_hours_from_a_to_b_and_refusals_say_why(pair, browser: Browser, tmp_path):
    a, b = pair
    out = b.flask("federation", "trust-issuer", a.base + "/", "--name", A_NAME, "--admin", B_ADMIN)
    kid = httpx.get(f"{a.base}/.well-known/jwks.json", timeout=30).json()["keys"][0]["kid"]
    assert f"已信任 {A_NAME}" in out and kid[:4] in out, out
    ns, dt, ip = (_number(a, code) for code in COURSES)

    # On A: the learner downloads two credentials from 我的证书.
    on_a = sign_in(browser, a.base, A_LEARNER)
    ns_file = _download_credential(on_a, a.base, ns, tmp_path)
    dt_file = _download_credential(on_a, a.base, dt, tmp_path)

    # On B: the first is verified and transferred.
    on_b = sign_in(browser, b.base, B_LEARNER)
    _present_file(on_b, b.base, ns_file)
    expect(on_b.locator(".alert-success")).to_contain_text(f"来自 {A_NAME}，证书编号 {ns}")
    expect(on_b.locator("#transfers")).to_contain_text(ns)
    on_b.goto(b.base + "/me/hours/2026")
    expect(on_b.get_by_text(f"外平台转入 · 自 {A_NAME} 转入：证书编号 {ns}")).to_be_visible()

    # The same credential again, an edited one, and one revoked on A after issue: refused, with reasons.
    _present_file(on_b, b.base, ns_file)
    expect(on_b.locator("#transfer-refused")).to_contain_text(f"凭证 {ns} 已经转入过，不能重复转入。")
    _present_file(on_b, b.base, _edited(dt_file, tmp_path))
    expect(on_b.locator("#transfer-refused")).to_contain_text("凭证的签名与内容不符（凭证被改动过），未转入。")
    _revoke_on_a(a, dt)
    _present_file(on_b, b.base, dt_file)
    expect(on_b.locator("#transfer-refused")).to_contain_text(f"凭证 {dt} 已被发证平台 {A_NAME} 吊销，未转入。")

    # A consent link made on A for the third course: B reads it from A and transfers it.
    on_a.goto(a.base + "/me/certificates")
    on_a.locator(f'article[data-number="{ip}"]').get_by_role("button", name="授权其他平台读取").click()
    link = on_a.locator("#consent-url").inner_text().strip()
    assert link.startswith(a.base + "/credentials/shared/gxc_")
    on_b.goto(b.base + "/me/transfers")
    on_b.get_by_label("或原平台的凭证授权链接").fill(link)
    on_b.get_by_role("button", name="核验并转入").click()
    expect(on_b.locator(".alert-success")).to_contain_text(f"证书编号 {ip}")
    assert httpx.get(link, timeout=30).status_code == 200  # until the learner revokes it
    on_a.goto(a.base + "/me/consent-links")
    on_a.get_by_role("button", name="撤回").click()
    assert httpx.get(link, timeout=30).status_code == 404

    # B's unit export has both, with their origin after the 15 fixed columns.
    rows = {row["课程名称"]: row for row in _unit_export(b)}
    moved = [row for row in rows.values() if row["学时来源"] == "外平台转入"]
    assert len(moved) == 2 and {row["年度"] for row in moved} == {"2026"}

    # A revokes the first credential later: B's re-check voids the entry, with the reason.
    _revoke_on_a(a, ns)
    assert "作废 1 份" in b.flask("federation", "recheck-transfers")
    on_b.goto(b.base + "/me/hours/2026")
    expect(on_b.get_by_text(f"发证平台 {A_NAME} 已吊销凭证 {ns}，转入的学时作废。").first).to_be_visible()
    on_b.goto(b.base + "/me/transfers")
    expect(on_b.locator("#transfers")).to_contain_text("已作废")
