"""Who may read which completion records: units, regions, admins; narrowing never widens."""

from datetime import date

import pytest

from lms.accounts.models import EmploymentStatus, Role
from lms.core.errors import InvalidInput, NotAllowed
from lms.credits import services as ledger
from lms.exports import records
from tests.records_helpers import UNIT_A, UNIT_B, completion, employee, org


@pytest.fixture
def people(ctx, db_session, make_user):
    a1 = employee(make_user, UNIT_A, real_name="甲一")
    a2 = employee(make_user, UNIT_A, real_name="甲二")
    b1 = employee(make_user, UNIT_B, region="440000", real_name="乙一")
    pending = employee(make_user, UNIT_A, approved=False, real_name="待审")
    for user in (a1, a2, pending):
        completion(db_session, user)
    completion(db_session, b1, certificate=True)
    admin_a = make_user(roles=(Role.UNIT_ADMIN,), organization=org(db_session, UNIT_A))
    auditor_gd = make_user(roles=(Role.HR_AUDITOR,), region_code="440000")
    admin = make_user(roles=(Role.ADMIN,))
    return dict(a1=a1, a2=a2, b1=b1, pending=pending, admin_a=admin_a, auditor_gd=auditor_gd, admin=admin)


def names(scope, **kw):
    from lms.extensions import db

    return sorted(row.real_name for row in db.session.execute(records.record_query(scope, **kw)))


def test_each_reader_sees_only_their_scope(people):
    assert names(records.scope_for(people["admin_a"])) == ["甲一", "甲二"]  # not the pending one
    assert names(records.scope_for(people["auditor_gd"])) == ["乙一"]
    assert names(records.scope_for(people["admin"])) == ["乙一", "待审", "甲一", "甲二"]
    assert names(records.scope_for(people["admin"], unit=UNIT_B)) == ["乙一"]


def test_narrowing_outside_the_scope_is_refused(people):
    with pytest.raises(NotAllowed):
        records.scope_for(people["admin_a"], unit=UNIT_B)
    with pytest.raises(NotAllowed):
        records.scope_for(people["auditor_gd"], region="110000")
    with pytest.raises(NotAllowed):
        records.scope_for(people["a1"])  # a learner
    with pytest.raises(NotAllowed):
        records.scope_for(people["admin_a"], full_id_numbers=True)
    with pytest.raises(InvalidInput):
        records.scope_for(people["admin"], unit="91110108MA00AAAA00")
    with pytest.raises(InvalidInput):
        records.scope_for(people["admin"], region="999999")


def test_rows_follow_the_export_columns_and_mask_ids(people, db_session):
    from lms.extensions import db

    scope = records.scope_for(people["admin_a"])
    rows = [records.export_row(r, full_id_numbers=scope.full_id_numbers)
            for r in db.session.execute(records.record_query(scope))]
    assert len(records.COLUMNS) == 15 and len(rows[0]) == 16 and records.HEADER[15] == "学时来源"
    first = dict(zip(records.HEADER, rows[0], strict=True))
    assert first["身份证号"] == people["a1"].id_number_masked and "*" in first["身份证号"]
    assert first["统一社会信用代码"] == UNIT_A and first["年度"] == 2026 and first["课程编号"] == "GX-NS-001"
    assert first["完成日期"] == date(2026, 3, 10) and first["考试成绩"] == 90
    assert first["证书编号"] == "" and first["验证网址"] == ""  # no certificate issued for this one
    full = records.scope_for(people["admin"], unit=UNIT_A, full_id_numbers=True)
    row = next(iter(db.session.execute(records.record_query(full))))
    assert len(records.export_row(row, full_id_numbers=True)[1]) == 18


def test_voided_entries_leave_exports_but_stay_in_the_full_ledger(people, db_session):
    from lms.extensions import db

    record = ledger.active_records(people["a1"].id)[0]
    ledger.revoke_record(people["admin"], record.id, reason="重复记录")
    db_session.commit()
    scope = records.scope_for(people["admin_a"])
    assert names(scope) == ["甲二"]
    entries = list(db.session.execute(records.record_query(scope, active_only=False)))
    voided = [e for e in entries if e.id == record.id][0]
    assert voided.voided_by_id is not None
    assert [e.entry_kind for e in entries if e.voids_id == record.id] == ["revocation"]


def test_unapproving_an_employee_hides_their_records_from_the_unit(people, db_session):
    people["a2"].employment_status = EmploymentStatus.REJECTED
    db_session.commit()
    assert names(records.scope_for(people["admin_a"])) == ["甲一"]


def test_json_form_of_an_entry(people):
    from lms.extensions import db

    scope = records.scope_for(people["admin"], unit=UNIT_B)
    row = next(iter(db.session.execute(records.record_query(scope, active_only=False))))
    data = records.record_json(row, full_id_numbers=False)
    assert data["learner"] == {"name": "乙一", "id_number": people["b1"].id_number_masked, "id_number_masked": True}
    assert data["counts"] is True and data["unit"]["credit_code"] == UNIT_B and data["region"]["code"] == "440000"
    assert data["completed_at"] == "2026-03-10T02:00:00Z" and data["completed_on"] == "2026-03-10"
    assert data["verification_url"].endswith(f"/verify?no={data['certificate_number']}")
    # The credential identifies the person: no link for a reader without full ID numbers, unless told.
    assert data["certificate_number"] and data["credential_url"] is None
    assert records.record_json(row, full_id_numbers=True)["credential_url"].endswith(
        f"/api/v1/credentials/{data['certificate_number']}")
    linked = records.record_json(row, full_id_numbers=False, credential_links=True)
    assert linked["credential_url"].endswith(f"/api/v1/credentials/{data['certificate_number']}")
    assert linked["learner"]["id_number_masked"] is True


def test_a_unit_admin_who_also_audits_the_region_names_either(people, db_session, make_user):
    both = make_user(roles=(Role.UNIT_ADMIN,), organization=org(db_session, UNIT_A))
    from lms.accounts import services as accounts

    accounts.grant_role(None, both, Role.HR_AUDITOR, region_code="110000")
    db_session.commit()
    with pytest.raises(InvalidInput):
        records.scope_for(both)  # two scopes: which one?
    assert names(records.scope_for(both, unit=UNIT_A)) == ["甲一", "甲二"]
    assert records.scope_for(both, region="110000").organization_id is None


def test_asking_for_full_id_numbers_picks_the_grant_that_allows_them(people, db_session, make_user):
    from lms.accounts import services as accounts

    both = make_user(roles=(Role.UNIT_ADMIN,), organization=org(db_session, UNIT_A))
    accounts.grant_role(None, both, Role.HR_AUDITOR, region_code="110000")
    db_session.commit()
    scope = records.scope_for(both, unit=UNIT_A, full_id_numbers=True)
    assert scope.full_id_numbers and scope.region_code == "110000" and scope.organization_id is not None
    assert records.scope_for(both, unit=UNIT_A).full_id_numbers is False
