"""The interface language of a request and what is formatted in it (lms/core/i18n.py); certificates
stay Chinese, with the English title beneath, whatever the request's language."""

import subprocess
from datetime import date, datetime
from decimal import Decimal

import pytest
from flask_babel import refresh

from lms.certificates import pdf, services
from lms.core.formatting import reader_hours
from lms.core.i18n import LOCALE_COOKIE, format_day, format_minute, format_month_day, html_lang, select_locale
from lms.core.storage import media_path
from lms.credits import services as ledger
from tests.learning_helpers import course


@pytest.mark.parametrize(("accept", "cookie", "expected"), [
    (None, None, "zh_Hans_CN"),  # nothing said: Chinese
    ("en-US,en;q=0.9", None, "en"),
    ("en-GB", None, "en"),
    ("zh-CN,zh;q=0.9,en;q=0.8", None, "zh_Hans_CN"),
    ("zh-TW", None, "zh_Hans_CN"),
    ("fr-FR,de;q=0.8", None, "zh_Hans_CN"),  # no language offered matches: Chinese
    ("fr-FR,en;q=0.5", None, "en"),
    ("en", "zh_Hans_CN", "zh_Hans_CN"),  # the browser's choice beats Accept-Language
    (None, "en", "en"),
    ("en", "xx", "en"),  # a cookie naming no offered language is ignored
])
def test_anonymous_visitors_get_their_choice_then_accept_language_then_chinese(app, accept, cookie, expected):
    headers = {"Accept-Language": accept} if accept else {}
    if cookie:
        headers["Cookie"] = f"{LOCALE_COOKIE}={cookie}"
    with app.test_request_context(headers=headers):
        assert select_locale() == expected


def test_the_account_choice_beats_the_browser(app, db_session, make_user, client, login):
    user = make_user()
    user.locale = "en"
    db_session.flush()
    login(user)
    client.set_cookie(LOCALE_COOKIE, "zh_Hans_CN")
    page = client.get("/me/hours", headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)
    assert '<html lang="en">' in page and "My credit hours" in page


def test_switching_while_signed_in_keeps_the_choice_on_the_account(app, db_session, make_user, client, login,
                                                                      csrf_token):
    user = make_user()
    login(user)
    token = csrf_token(client.get("/profile").get_data(as_text=True))
    answer = client.post("/language", data={"locale": "en", "next": "/me/hours", "csrf_token": token})
    assert answer.status_code == 302 and answer.headers["Location"].endswith("/me/hours")
    assert user.locale == "en"
    assert f"{LOCALE_COOKIE}=en" in answer.headers["Set-Cookie"]
    refused = client.post("/language", data={"locale": "fr", "next": "/me/hours", "csrf_token": token})
    assert refused.status_code == 302 and user.locale == "en"  # nothing changed
    assert "Choose the interface language" in client.get("/me/hours").get_data(as_text=True)


def test_a_visitor_switches_with_a_link_that_changes_nothing_on_the_server(client):
    answer = client.get("/language?locale=en&next=/help")
    assert answer.status_code == 302 and answer.headers["Location"].endswith("/help")
    page = client.get("/help").get_data(as_text=True)
    assert '<html lang="en">' in page and "How credit hours are counted" in page
    assert client.get("/language?locale=en&next=https://elsewhere.example/").headers["Location"].endswith("/")
    assert "Choose the interface language" in client.get(
        client.get("/language?locale=xx").headers["Location"]).get_data(as_text=True)


@pytest.mark.parametrize(("locale", "day", "minute", "hours", "month_day", "lang"), [
    ("zh_Hans_CN", "2026-03-02", "2026-03-02 09:05", "1,234.5", "12月31日", "zh-CN"),
    ("en", "Mar 2, 2026", "Mar 2, 2026, 9:05\u202fAM",  # CLDR puts a narrow space before AM
     "1,234.5", "December 31", "en"),
])
def test_dates_numbers_and_hours_are_written_in_the_language(app, locale, day, minute, hours, month_day, lang):
    with app.test_request_context(headers={"Cookie": f"{LOCALE_COOKIE}={locale}"}):
        refresh()
        assert format_day(date(2026, 3, 2)) == day
        assert format_minute(datetime(2026, 3, 2, 9, 5)) == minute
        assert reader_hours(Decimal("1234.50")) == hours
        assert reader_hours(Decimal("2.0")) == "2"
        assert format_month_day(12, 31) == month_day
        assert html_lang() == lang


def test_a_certificate_issued_in_english_stays_chinese_with_the_english_title(app, db_session, make_user):
    user = make_user(real_name="李晓明")
    with app.test_request_context(headers={"Accept-Language": "en"}):
        refresh()
        record = ledger.record_course_completion(user, course(db_session), completed_at=datetime(2026, 3, 2, 1),
                                                 exam_score=88)
        cert = services.issue_course_certificate(record)
        db_session.flush()
        annual = services.issue_annual_certificate(user, 2026)
        db_session.flush()
    with app.app_context():
        texts = [_pdf_text(issued) for issued in (cert, annual)]
    for text, (title, english) in zip(texts, (pdf.TITLES["course"], pdf.TITLES["annual"]), strict=True):
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        assert lines.index(english) == lines.index(title) + 1, lines[:4]  # the English title beneath
        assert "证书编号" in text and "发证机构" in text and "Credit hours" not in text
    listed = texts[1].split("所含课程")[1]
    assert "学时" in listed and "credit hours" not in listed  # the course lines are written in Chinese too


def _pdf_text(cert) -> str:
    return subprocess.run(["pdftotext", "-layout", str(media_path(cert.pdf_path)), "-"], capture_output=True,
                          text=True, check=True).stdout


def test_the_verification_page_shows_the_certificate_title_in_chinese_with_english_beneath(
        app, db_session, make_user, client):
    user = make_user()
    with app.test_request_context():
        record = ledger.record_course_completion(user, course(db_session), completed_at=datetime(2026, 3, 2, 1),
                                                 exam_score=88)
        cert = services.issue_course_certificate(record)
        db_session.flush()
    client.set_cookie(LOCALE_COOKIE, "en")
    page = client.get(f"/verify?no={cert.number}").get_data(as_text=True)
    assert '<p class="h5 mb-0" lang="zh-CN" id="certificate-title">课程学时证明</p>' in page
    assert '<p class="text-secondary mb-3" lang="en" id="certificate-title-en">Certificate of Course Credit Hours' \
           in page
    assert "Certificate valid" in page
