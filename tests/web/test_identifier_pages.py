"""Identifiers over HTTP: a full-width copy of a registered ID number or mobile is the same person, odd
characters get a form error (never a 500), and login and /verify fold what was typed the same way."""

from datetime import datetime

import pytest
from sqlalchemy import func, select

from lms.accounts.models import User
from lms.certificates import services as certificates
from lms.credits import services as ledger
from tests.conftest import TEST_PASSWORD, credit_code, id_number
from tests.learning_helpers import course

ID = id_number("31010419590206730")  # the number from the report: 310104195902067308


def full_width(value: str) -> str:
    return "".join(chr(ord(ch) + 0xFEE0) if "!" <= ch <= "~" else ch for ch in value)


def form_data(token, **kw):
    data = {"real_name": "陈静", "id_number": ID, "mobile": "13722223333", "email": "", "region_code": "310000",
            "employer_name": "上海示例研究所", "employer_credit_code": credit_code("12310000MB0000003"),
            "title_series": "", "password": TEST_PASSWORD, "password_confirm": TEST_PASSWORD,
            "agree": "y", "csrf_token": token}
    data.update(kw)
    return data


def user_count(db_session):
    return db_session.scalar(select(func.count(User.id)))


def register(client, csrf_token, **kw):
    token = csrf_token(client.get("/register").get_data(as_text=True))
    return client.post("/register", data=form_data(token, **kw))


def test_full_width_copy_of_a_registered_id_number_is_a_duplicate(client, csrf_token, db_session, make_user):
    assert ID == "310104195902067308"
    make_user(id_number=ID)
    before = user_count(db_session)
    for typed in ("31010419590206７308", full_width(ID), "３１０１０４　１９５９０２０６　７３０８"):
        response = register(client, csrf_token, id_number=typed)
        assert response.status_code == 200
        assert "该身份证号已注册" in response.get_data(as_text=True)
    assert user_count(db_session) == before


@pytest.mark.parametrize("typed, message", [
    ("31010419590206²308", "校验码"),  # folds to 310104195902062308: a wrong check character
    ("11010519491231²00X", "校验码"),
    ("3101041959020673٠8", "字符"),  # an Arabic-Indic zero: a digit to str.isdigit(), not to us
    ("310104195902067308\x00", "字符"),
])
def test_odd_characters_in_an_id_number_get_a_form_error(client, csrf_token, db_session, typed, message):
    before = user_count(db_session)
    response = register(client, csrf_token, id_number=typed)
    assert response.status_code in (200, 400)
    assert message in response.get_data(as_text=True)
    assert user_count(db_session) == before


def test_full_width_registration_stores_the_ascii_values(client, csrf_token, db_session):
    response = register(client, csrf_token, id_number=full_width(ID), mobile="１３７ ２２２２ ３３３３",
                        employer_credit_code=full_width(credit_code("12310000MB0000003").lower()))
    assert response.status_code == 302, response.get_data(as_text=True)
    user = db_session.scalar(select(User).where(User.mobile == "13722223333"))
    assert user.id_number_masked == "3101**********7308"
    assert user.employer.credit_code == credit_code("12310000MB0000003")


def test_full_width_mobile_of_another_account_is_a_duplicate(client, csrf_token, db_session, make_user):
    other = make_user()
    response = register(client, csrf_token, mobile=full_width(other.mobile))
    assert response.status_code == 200 and "该手机号已被其他账号使用" in response.get_data(as_text=True)


@pytest.mark.parametrize("how", ["mobile", "id_number"])
def test_login_folds_what_was_typed(client, csrf_token, make_user, how):
    user = make_user(id_number=ID)
    login = full_width(user.mobile if how == "mobile" else ID.lower())
    token = csrf_token(client.get("/login").get_data(as_text=True))
    response = client.post("/login", data={"login": login, "password": TEST_PASSWORD, "csrf_token": token})
    assert response.status_code == 302, response.get_data(as_text=True)


@pytest.mark.parametrize("login", ["1390000\x000001", "a@b.c\x00", "\x00", "３１０¹⁹５９"])
def test_login_with_odd_characters_is_a_plain_refusal(client, csrf_token, login):
    token = csrf_token(client.get("/login").get_data(as_text=True))
    response = client.post("/login", data={"login": login, "password": TEST_PASSWORD, "csrf_token": token})
    assert response.status_code == 200 and "账号或密码不正确" in response.get_data(as_text=True)


def test_verify_folds_a_full_width_certificate_number(app, client, db_session, make_user):
    user = make_user()
    with app.test_request_context():
        record = ledger.record_course_completion(user, course(db_session), completed_at=datetime(2026, 3, 2, 1),
                                                 exam_score=90)
        cert = certificates.issue_course_certificate(record)
        db_session.commit()
    page = client.get("/verify", query_string={"no": full_width(cert.number.lower())})
    assert page.status_code == 200 and "证书有效" in page.get_data(as_text=True)
    for odd in ("GX2026\x00000001", "GX²⁰²⁶", "\u202e7100000620XG"):
        assert client.get("/verify", query_string={"no": odd}).status_code == 400


def test_control_characters_in_names_get_a_form_error(client, csrf_token, db_session):
    # PostgreSQL cannot store a NUL: without the form check this was a 500 there.
    before = user_count(db_session)
    response = register(client, csrf_token, real_name="陈\x00静", employer_name="上海示例\x00研究所")
    assert response.status_code == 200 and "控制字符" in response.get_data(as_text=True)
    assert user_count(db_session) == before
