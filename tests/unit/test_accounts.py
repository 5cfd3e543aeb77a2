import pytest
from sqlalchemy import select

from lms.accounts import crypto, services
from lms.accounts.models import Organization, Role, User
from lms.core.audit import AuditEvent
from lms.core.errors import Conflict, InvalidInput
from tests.conftest import TEST_PASSWORD, credit_code, id_number

pytestmark = pytest.mark.usefixtures("ctx")


def person(**kw) -> services.PersonData:
    data = dict(real_name="李华", id_number=id_number("32010219900101123"), password=TEST_PASSWORD,
                mobile="13912345678", region_code="320000", employer_name="南京示例研究院",
                employer_credit_code=credit_code("12320100MB0000001"))
    data.update(kw)
    return services.PersonData(**data)


def test_id_number_is_encrypted_hashed_and_masked(db_session):
    user = services.register_learner(person())
    raw = id_number("32010219900101123")
    assert raw not in user.id_number_encrypted
    assert crypto.decrypt(user.id_number_encrypted) == raw
    assert user.id_number_hash == crypto.lookup_hash(raw) and raw not in user.id_number_hash
    assert user.id_number_masked == raw[:4] + "*" * 10 + raw[-4:]
    assert user.has_role(Role.LEARNER)


def test_duplicate_id_number_is_refused_whatever_its_case(db_session):
    services.register_learner(person(id_number=id_number("11010519491231002")))
    with pytest.raises(Conflict, match="已注册") as info:
        services.register_learner(person(id_number="11010519491231002x", mobile="13900000000"))
    assert info.value.field == "id_number"


@pytest.mark.parametrize("password, reason", [
    ("short1", "至少 8 位"), ("onlyletters", "字母和数字"), ("12345678", "字母和数字"),
    ("password1", "过于常见"), ("13912345678a", "不能包含"),
])
def test_weak_passwords_are_refused(db_session, password, reason):
    with pytest.raises(InvalidInput, match=reason):
        services.register_learner(person(password=password))


def test_mobile_or_email_is_required(db_session):
    with pytest.raises(InvalidInput, match="至少填写"):
        services.register_learner(person(mobile=None, email=None))


def test_employer_is_shared_by_credit_code_and_a_different_name_is_refused(db_session):
    first = services.register_learner(person())
    second = services.register_learner(person(id_number=id_number("32010219900101124"), mobile="13912345679"))
    assert first.employer_id == second.employer_id
    with pytest.raises(InvalidInput, match="已登记为"):
        services.register_learner(person(id_number=id_number("32010219900101125"), mobile="13912345670",
                                         employer_name="另一个名字"))


def test_employer_name_ignores_full_width_forms_and_spaces(db_session):
    first = services.register_learner(person(employer_name="南京示例研究院（江苏）"))
    second = services.register_learner(person(id_number=id_number("32010219900101124"), mobile="13912345679",
                                              employer_name=" 南京示例研究院(江苏) "))
    assert first.employer_id == second.employer_id


def test_bad_credit_code_names_the_field(db_session):
    with pytest.raises(InvalidInput) as info:
        services.register_learner(person(employer_credit_code="91350100M000100Y44"))
    assert info.value.field == "employer_credit_code"
    assert db_session.scalar(select(Organization).where(Organization.name == "南京示例研究院")) is None


def test_login_by_id_number_mobile_or_email(db_session):
    user = services.register_learner(person(email="Li.Hua@example.org"))
    raw = id_number("32010219900101123")
    for login in (raw, raw.lower(), "13912345678", "li.hua@example.org"):
        assert services.authenticate(login, TEST_PASSWORD) == user
    assert services.authenticate("13912345678", "wrong-password1") is None
    assert services.authenticate("13000000000", TEST_PASSWORD) is None


def test_org_roles_need_an_organization_and_grants_are_audited(db_session):
    user = services.register_learner(person())
    with pytest.raises(InvalidInput, match="必须指定机构"):
        services.grant_role(None, user, Role.PUBLISHER)
    org = services.get_or_create_organization("某省继续教育基地", "publisher")
    grant = services.grant_role(None, user, Role.PUBLISHER, organization=org)
    assert services.grant_role(None, user, Role.PUBLISHER, organization=org) is grant
    actions = db_session.scalars(select(AuditEvent.action).where(AuditEvent.target_id == str(user.id))).all()
    assert actions.count("role.granted") == 2  # learner at registration, publisher now


def test_change_password_checks_the_current_one(db_session):
    user = services.register_learner(person())
    with pytest.raises(InvalidInput, match="当前密码不正确"):
        services.change_password(user, "nope12345", "NewPass2026x")
    services.change_password(user, TEST_PASSWORD, "NewPass2026x")
    assert services.authenticate("13912345678", "NewPass2026x") == user


def test_users_are_never_stored_with_plain_id_numbers(db_session):
    services.register_learner(person())
    raw = id_number("32010219900101123")
    for row in db_session.execute(select(User.__table__)).all():
        assert raw not in " ".join(str(v) for v in row)
