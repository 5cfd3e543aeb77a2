import re

import pytest
from sqlalchemy import func, select

from lms.accounts.models import User
from tests.conftest import TEST_PASSWORD, credit_code, id_number

ID = id_number("11010819880808123")


def form_data(token, **kw):
    data = {"real_name": "王芳", "id_number": ID, "mobile": "13711112222", "email": "", "region_code": "110000",
            "employer_name": "北京示例设计院", "employer_credit_code": credit_code("12110000MB0000002"),
            "title_series": "工程技术", "password": TEST_PASSWORD, "password_confirm": TEST_PASSWORD,
            "agree": "y", "csrf_token": token}
    data.update({key.removeprefix("field_"): value for key, value in kw.items()})
    return data


def user_count(db_session):
    return db_session.scalar(select(func.count(User.id)))


def test_register_logs_in_and_shows_masked_id(client, csrf_token, db_session):
    token = csrf_token(client.get("/register").get_data(as_text=True))
    response = client.post("/register", data=form_data(token))
    assert response.status_code == 302 and response.headers["Location"].endswith("/profile")
    profile = client.get("/profile").get_data(as_text=True)
    assert "王芳" in profile
    assert ID[:4] + "**********" + ID[-4:] in profile
    assert ID not in profile
    assert "等待单位管理员确认" in profile


def _post_bad(client, get_token, db_session, status=200, **kw):
    token = get_token(client.get("/register").get_data(as_text=True))
    before = user_count(db_session)
    response = client.post("/register", data=form_data(token, **kw))
    assert response.status_code == status
    assert user_count(db_session) == before
    return response.get_data(as_text=True)


def test_wrong_check_digit_is_explained_and_input_kept(client, csrf_token, db_session):
    wrong = ID[:17] + ("0" if ID[17] != "0" else "1")
    html = _post_bad(client, csrf_token, db_session, id_number=wrong)
    assert "校验码（最后一位）不正确" in html
    assert 'value="北京示例设计院"' in html and f'value="{wrong}"' in html


def test_impossible_birth_date(client, csrf_token, db_session):
    body = "11010819880230123"
    html = _post_bad(client, csrf_token, db_session, id_number=id_number(body))
    assert "出生日期" in html


def test_bad_credit_code(client, csrf_token, db_session):
    html = _post_bad(client, csrf_token, db_session, employer_credit_code="12110000MB0000002Z")
    assert "统一社会信用代码" in html


def test_weak_password(client, csrf_token, db_session):
    html = _post_bad(client, csrf_token, db_session, password="abcdefgh", password_confirm="abcdefgh")
    assert "字母和数字" in html


def test_duplicate_id_number(client, csrf_token, db_session, make_user):
    make_user(id_number=ID)
    html = _post_bad(client, csrf_token, db_session, mobile="13700000000")
    assert "该身份证号已注册" in html
    # It points to what exists: signing in, and the 忘记密码 page linked below the form.
    assert "忘记密码？" in html and 'href="/password/forgot"' in html


def test_missing_csrf_token_keeps_what_was_typed(client, csrf_token, db_session):
    # Refused like any post without its token (400), but shown again with what was typed.
    html = _post_bad(client, csrf_token, db_session, status=400, field_csrf_token="forged")
    assert "页面已过期或来源无法确认" in html
    assert 'value="王芳"' in html


def test_logout_requires_a_csrf_token(client, make_user, login):
    login(make_user())
    assert client.post("/logout").status_code == 400
    assert client.get("/profile").status_code == 200


def test_login_and_logout(client, make_user, login, csrf_token):
    user = make_user(real_name="赵敏")
    login(user)
    page = client.get("/").get_data(as_text=True)
    assert "赵敏" in page
    client.post("/logout", data={"csrf_token": csrf_token(page)})
    assert client.get("/profile").status_code == 302


def test_wrong_password_says_so_without_telling_which_part(client, make_user, csrf_token):
    user = make_user()
    token = csrf_token(client.get("/login").get_data(as_text=True))
    html = client.post("/login", data={"login": user.mobile, "password": "Wrong12345", "csrf_token": token})
    assert "账号或密码不正确" in html.get_data(as_text=True)


def test_login_is_rate_limited(client, make_user, csrf_token):
    user = make_user()
    token = csrf_token(client.get("/login").get_data(as_text=True))
    codes = [client.post("/login", data={"login": user.mobile, "password": "Wrong12345", "csrf_token": token})
             .status_code for _ in range(6)]
    assert codes[:5] == [200] * 5 and codes[5] == 429
    assert "操作过于频繁" in client.post("/login", data={"login": "x", "password": "y"}).get_data(as_text=True)


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/", "/\\evil.example/",
                                    "javascript:alert(1)"])
def test_next_parameter_cannot_leave_the_site(client, make_user, csrf_token, target):
    user = make_user()
    token = csrf_token(client.get("/login").get_data(as_text=True))
    response = client.post("/login", query_string={"next": target}, data={
        "login": user.mobile, "password": TEST_PASSWORD, "csrf_token": token})
    assert response.headers["Location"] == "/"


def test_failed_logins_are_limited_per_account_across_addresses(client, make_user, csrf_token):
    user = make_user()
    token = csrf_token(client.get("/login").get_data(as_text=True))
    codes = [client.post("/login", data={"login": user.mobile, "password": "Wrong12345", "csrf_token": token},
                         environ_base={"REMOTE_ADDR": f"10.0.0.{n}"}).status_code for n in range(6)]
    assert codes[5] == 429


def test_profile_requires_login(client):
    response = client.get("/profile")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_change_password_page(client, make_user, login, csrf_token):
    user = make_user()
    login(user)
    token = csrf_token(client.get("/profile").get_data(as_text=True))
    bad = client.post("/profile", data={"current_password": "nope", "password": "NewPass2026x",
                                        "password_confirm": "NewPass2026x", "csrf_token": token})
    assert "当前密码不正确" in bad.get_data(as_text=True)
    good = client.post("/profile", data={"current_password": TEST_PASSWORD, "password": "NewPass2026x",
                                         "password_confirm": "NewPass2026x", "csrf_token": token})
    assert good.status_code == 302
    client.post("/logout", data={"csrf_token": token})
    token = csrf_token(client.get("/login").get_data(as_text=True))
    old = client.post("/login", data={"login": user.mobile, "password": TEST_PASSWORD, "csrf_token": token})
    assert old.status_code == 200 and "账号或密码不正确" in old.get_data(as_text=True)
    new = client.post("/login", data={"login": user.mobile, "password": "NewPass2026x", "csrf_token": token})
    assert new.status_code == 302


def test_pages_carry_security_headers(client):
    response = client.get("/register")
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert re.search(r'<html lang="zh-CN">', response.get_data(as_text=True))


def test_changing_the_password_signs_out_other_sessions(client_factory, make_user, csrf_token):
    user = make_user()
    here, elsewhere = client_factory(), client_factory()
    for c in (here, elsewhere):
        token = csrf_token(c.get("/login").get_data(as_text=True))
        assert c.post("/login", data={"login": user.mobile, "password": TEST_PASSWORD, "csrf_token": token}).status_code == 302
    page = here.get("/profile").get_data(as_text=True)
    response = here.post("/profile", data={"current_password": TEST_PASSWORD, "password": "NewPass2026x",
                                           "password_confirm": "NewPass2026x", "csrf_token": csrf_token(page)})
    assert response.status_code == 302
    assert here.get("/profile").status_code == 200       # the session that changed it stays signed in
    assert elsewhere.get("/profile").status_code == 302  # the other one is sent to the login page


def _described_ids_missing(html: str) -> list[str]:
    """aria-describedby values that are empty, "None", or name an id the page does not have."""
    ids = set(re.findall(r'\sid="([^"]+)"', html))
    problems = []
    for value in re.findall(r'aria-describedby="([^"]*)"', html):
        if not value.strip() or value == "None":
            problems.append(repr(value))
        problems += [ref for ref in value.split() if ref not in ids and ref != "None"]
    return problems


def test_form_fields_describe_themselves_only_by_ids_on_the_page(client, csrf_token, db_session):
    """The consent box once said aria-describedby="None"; other fields an empty one."""
    blank = client.get("/register").get_data(as_text=True)
    refused = _post_bad(client, csrf_token, db_session, password="abcdefgh", password_confirm="abcdefgh", consent="")
    assert "aria-describedby" in refused  # the errors are tied to their fields
    for html in (blank, refused, client.get("/login").get_data(as_text=True)):
        assert _described_ids_missing(html) == [] and '="None"' not in html


def test_every_page_names_an_icon_the_server_has(client):
    """Without one, browsers asked for /favicon.ico on every page and got 404."""
    for url in ("/", "/login", "/register", "/courses"):
        html = client.get(url).get_data(as_text=True)
        icon = re.search(r'<link rel="icon" type="image/svg\+xml" href="([^"]+)"', html)
        assert icon, url
        served = client.get(icon.group(1))
        assert served.status_code == 200 and served.mimetype == "image/svg+xml"
        served.close()
