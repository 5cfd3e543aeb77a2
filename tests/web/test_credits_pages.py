"""Routes of the year page, certificates, verification and the admin pages, with object-level checks."""

from datetime import datetime

import pytest

from lms.certificates import services as certificates
from lms.credits import services as ledger
from tests.learning_helpers import course


@pytest.fixture
def learner_with_cert(app, db_session, make_user):
    user = make_user(real_name="王小红")
    with app.test_request_context():
        record = ledger.record_course_completion(user, course(db_session), completed_at=datetime(2026, 3, 2, 1),
                                                 exam_score=95)
        cert = certificates.issue_course_certificate(record)
        db_session.commit()
    return user, cert


def test_my_hours_shows_the_year_against_the_rule(client, login, learner_with_cert):
    user, cert = learner_with_cert
    login(user)
    page = client.get("/me/hours/2026")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "我的学时" in html and "/ 90 学时" in html and "还差" in html and "截止日期" in html
    assert "chart.js-4.6.1/chart.umd.min.js" in html and 'id="hours-data"' in html
    assert "<style" not in html and "style=" not in html
    assert client.get("/me/hours").status_code == 200
    assert client.get("/me/hours/2019").status_code == 200  # earlier years stay viewable


def test_downloads_are_for_the_owner_only(client, login, make_user, learner_with_cert):
    user, cert = learner_with_cert
    assert client.get(f"/certificates/{cert.number}.pdf").status_code == 302  # anonymous → login
    stranger = make_user()
    login(stranger)
    for url in (f"/certificates/{cert.number}.pdf", f"/credentials/{cert.number}.jwt"):
        assert client.get(url).status_code == 403
    client.post("/logout", data={"csrf_token": "x"})
    other = client.application.test_client()
    page = other.get("/login")
    from tests.conftest import TEST_PASSWORD, _csrf_token

    other.post("/login", data={"login": user.mobile, "password": TEST_PASSWORD,
                               "csrf_token": _csrf_token(page.get_data(as_text=True))})
    pdf = other.get(f"/certificates/{cert.number}.pdf")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    jwt = other.get(f"/credentials/{cert.number}.jwt")
    assert jwt.status_code == 200 and jwt.data.count(b".") == 2
    clr = other.get("/me/credentials/clr.jwt")
    assert clr.status_code == 200
    mine = other.get("/me/certificates").get_data(as_text=True)
    assert cert.number in mine


def test_public_verification(client, learner_with_cert):
    _user, cert = learner_with_cert
    page = client.get(f"/verify?no={cert.number.lower()}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "证书有效" in html and "王*" in html and "王小红" not in html
    assert cert.pdf_sha256 in html and "95 分" in html
    wrong = cert.number[:-1] + ("0" if cert.number[-1] != "0" else "1")
    bad = client.get(f"/verify?no={wrong}")
    assert bad.status_code == 400 and "编号校验位不正确，可能有输错" in bad.get_data(as_text=True)
    from lms.certificates.numbers import compose

    unknown = client.get(f"/verify?no={compose('GX', 2031, 424242) or compose('GX', 2031, 424243)}")
    assert unknown.status_code == 404 and "平台没有这份证书" in unknown.get_data(as_text=True)
    assert client.get("/verify").status_code == 200


def test_the_help_pages_example_number_is_answered_as_an_example(client):
    from lms.certificates.numbers import EXAMPLE, check_char

    help_page = client.get("/help").get_data(as_text=True)
    assert f"例如 {EXAMPLE}（示例编号" in help_page and "GX20260000017" not in help_page
    other_issuer = "HRB442031000000" + check_char("HRB442031000000")  # the reserved sequence of any issuer
    for typed in (EXAMPLE, "ＧＸ２０２６-000000-９", other_issuer):
        answer = client.get("/verify", query_string={"no": typed})
        html = answer.get_data(as_text=True)
        assert answer.status_code == 404 and "这是示例编号" in html and "证书有效" not in html, typed
    assert f'placeholder="如 {EXAMPLE}"' in client.get("/verify").get_data(as_text=True)


def test_uploaded_pdf_is_compared(client, learner_with_cert, csrf_token):
    import io

    from lms.core.storage import media_path

    _user, cert = learner_with_cert
    page = client.get(f"/verify?no={cert.number}")
    token = csrf_token(page.get_data(as_text=True))
    with client.application.app_context():
        data = media_path(cert.pdf_path).read_bytes()
    same = client.post("/verify", data={"csrf_token": token, "no": cert.number,
                                        "pdf": (io.BytesIO(data), "c.pdf")}, content_type="multipart/form-data")
    assert "文件一致" in same.get_data(as_text=True)
    edited = data.replace(b"/Author", b"/Authxr", 1)
    other = client.post("/verify", data={"csrf_token": token, "no": cert.number,
                                         "pdf": (io.BytesIO(edited), "c.pdf")}, content_type="multipart/form-data")
    assert "文件不一致" in other.get_data(as_text=True)


def test_verification_is_rate_limited(app, client, learner_with_cert, monkeypatch):
    _user, cert = learner_with_cert
    monkeypatch.setitem(app.config, "LMS_VERIFY_RATE_LIMIT", "3 per minute")
    codes = [client.get(f"/verify?no={cert.number}").status_code for _ in range(5)]
    assert codes[:3] == [200, 200, 200] and codes[-1] == 429


def test_admin_pages_need_the_admin_role(client, login, make_user, learner_with_cert):
    _user, cert = learner_with_cert
    login(make_user())
    for url in ("/admin/rules", "/admin/rules/new", "/admin/certificates", f"/admin/certificates/{cert.number}"):
        assert client.get(url).status_code == 403


def test_admin_edits_a_rule_with_validation(client, login, make_user, csrf_token, db_session):
    login(make_user(roles=("admin",)))
    assert "全国默认" in client.get("/admin/rules").get_data(as_text=True)
    national = ledger.ensure_national_rule_set()
    page = client.get(f"/admin/rules/{national.id}")
    token = csrf_token(page.get_data(as_text=True))
    form = {"csrf_token": token, "name": national.name, "region_code": "", "annual_hours": "90",
            "public_min_hours": "120", "minutes_per_hour": "45", "rounding_step": "0.5", "hour_tiers": "",
            "daily_cap_hours": "", "cycle_end_month": "12", "cycle_end_day": "31", "coverage_threshold": "95",
            "allowed_rates": "1,1.25,1.5", "quiz_pass_score": "60", "quiz_attempts": "3"}
    bad = client.post(f"/admin/rules/{national.id}", data=form)
    assert bad.status_code == 400 and "公需科目最低学时应在 0 到年度总学时之间" in bad.get_data(as_text=True)
    db_session.refresh(national)
    assert national.public_min_hours == 30
    ok = client.post(f"/admin/rules/{national.id}", data=dict(form, public_min_hours="24", daily_cap_hours="8"))
    assert ok.status_code == 302
    db_session.refresh(national)
    assert national.public_min_hours == 24 and national.daily_cap_hours == 8


def test_admin_revokes_with_a_reason(client, login, make_user, csrf_token, learner_with_cert, db_session):
    _user, cert = learner_with_cert
    login(make_user(roles=("admin",)))
    page = client.get(f"/admin/certificates/{cert.number}")
    token = csrf_token(page.get_data(as_text=True))
    empty = client.post(f"/admin/certificates/{cert.number}", data={"csrf_token": token, "action": "revoke",
                                                                   "reason": ""})
    assert empty.status_code == 400
    db_session.refresh(cert)
    assert cert.is_valid
    done = client.post(f"/admin/certificates/{cert.number}", data={"csrf_token": token, "action": "revoke",
                                                                  "reason": "重复发证"})
    assert done.status_code == 302
    html = client.get(f"/verify?no={cert.number}").get_data(as_text=True)
    assert "证书已撤销" in html and "重复发证" in html
