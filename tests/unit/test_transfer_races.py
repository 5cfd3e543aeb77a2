"""The hourly re-check of transferred credentials running twice at once (two job workers), each in a
thread of its own with its own committing connection to a real database (run the file with
LMS_TEST_DATABASE=postgresql too): both read the issuer's status list before either records what it
read, so both find the credential revoked. The transfer is voided once, its ledger entry revoked
once, and neither job fails — on SQLite, where a transaction that read before the other one
committed cannot write any more, nor on PostgreSQL, where both would void the same entry."""

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from lms.accounts.models import Role, User
from lms.core.audit import AuditEvent
from lms.core.clock import freeze
from lms.credits.models import CreditRecord, EntryKind
from lms.extensions import db
from lms.federation import remote, tasks, transfers
from lms.federation.models import CreditTransfer, TransferStatus
from tests.conftest import committed_app, credit_code, id_number, session_per_thread
from tests.transfer_helpers import FakeIssuer

ID = id_number("11010519870707123")


@pytest.fixture(scope="module")
def own_app(tmp_path_factory):
    with committed_app(tmp_path_factory.mktemp("transfer-races"), "transrace", packages=(),
                       LMS_FEDERATION_ALLOW_PRIVATE=True) as application:
        yield application


def _person(app, n, roles=(), id_no=None) -> int:
    from lms.accounts import services

    with app.test_request_context():
        user = services.create_person(None, services.PersonData(
            real_name=f"转入{n}", id_number=id_no or id_number(f"11010519870707{n:03d}"), password="Study2026ok",
            mobile=f"1367777{n:04d}", region_code="110000", employer_name=f"转入单位{n}",
            employer_credit_code=credit_code(f"91110105MA0T{n:04d}0")), roles=())
        for role in roles:
            services.grant_role(None, user, role)
        db.session.commit()
        user_id = user.id
        db.session.remove()
    return user_id


def test_two_rechecks_at_once_void_a_revoked_transfer_once(own_app, monkeypatch):
    session_per_thread(own_app, monkeypatch)
    issuer = FakeIssuer()
    monkeypatch.setattr(remote, "fetch_bytes", issuer.fetch)
    admin_id, learner_id = _person(own_app, 900, (Role.ADMIN,)), _person(own_app, 901, id_no=ID)
    with own_app.test_request_context():
        transfers.add_issuer(db.session.get(User, admin_id), issuer.issuer_id, issuer.name)
        [transfer] = transfers.present_credential(db.session.get(User, learner_id),
                                                  issuer.sign(issuer.badge(ID, "R1", index=41, hours=3.0)))
        transfer_id, record_id = transfer.id, transfer.credit_record_id
        db.session.commit()
        db.session.remove()
    issuer.revoked.add(41)

    both_read = threading.Barrier(2, timeout=30)
    plain_fetch = issuer.fetch

    def fetch(url, origin):
        answer = plain_fetch(url, origin)
        if url == issuer.list_url():
            both_read.wait()  # each job has read the list before either records what it read
        return answer

    monkeypatch.setattr(remote, "fetch_bytes", fetch)
    outcomes = []

    def job():
        try:
            with own_app.test_request_context():
                outcomes.append(tasks.recheck_transfers())
                db.session.remove()
        except Exception as exc:  # noqa: BLE001 - the outcome is what the test looks at
            outcomes.append(exc)

    with freeze(datetime.now(UTC) + timedelta(hours=own_app.config["LMS_TRANSFER_RECHECK_HOURS"] + 1)):
        threads = [threading.Thread(target=job) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    assert all(isinstance(outcome, dict) for outcome in outcomes), outcomes
    assert sum(outcome["voided"] for outcome in outcomes) == 1, outcomes
    with own_app.app_context():
        assert db.session.get(CreditTransfer, transfer_id).status == TransferStatus.VOIDED
        revocations = db.session.scalar(select(func.count()).select_from(CreditRecord).where(
            CreditRecord.voids_id == record_id, CreditRecord.entry_kind == EntryKind.REVOCATION))
        voided_events = db.session.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.action == "federation.credit_transfer_voided"))
        assert (revocations, voided_events) == (1, 1)
        db.session.remove()
