"""flask backup: an installation (database of the kind under test, stored objects, signing keys, secrets)
backed up and restored into a freshly set-up one, where a certificate issued before still verifies, and
the learner's ID number still reads; a backup that was altered, keys that differ, or a target with a
record of its own are refused before anything changes."""

import json
from datetime import datetime
from pathlib import Path

import jwt
import pytest
from sqlalchemy import func, select

from tests.conftest import TEST_PASSWORD, build_database, credit_code, fresh_database, id_number, make_test_app

ID_NUMBER = id_number("11010519900103555")


@pytest.fixture(autouse=True)
def db_session():
    """Not the rolled-back test session: two installations of their own, committed."""
    yield None


def installation(stack, tmp: Path, name: str, **settings):
    """An app on a database, media folder and key folder of its own, set up as by ``flask setup``."""
    from lms.extensions import db

    folder = tmp / name
    folder.mkdir()
    url = stack.enter_context(fresh_database(folder, name))
    app = make_test_app(url, folder, LMS_SIGNING_KEY_DIR=str(folder / "signing-keys"), **settings)
    build_database(app, packages=("GX-NS-001",))

    def dispose():
        with app.app_context():
            db.engine.dispose()

    stack.callback(dispose)
    return app


def issue_certificate(app) -> str:
    from lms.accounts import services as accounts
    from lms.catalog.models import Course
    from lms.certificates import services as certificates
    from lms.credits import services as ledger
    from lms.extensions import db

    with app.test_request_context():
        user = accounts.create_person(None, accounts.PersonData(
            real_name="赵备份", id_number=ID_NUMBER, password=TEST_PASSWORD, mobile="13655500009",
            region_code="110000", employer_name="测试单位", employer_credit_code=credit_code("91110105MA01ABCD3")))
        course = db.session.scalar(select(Course).where(Course.code == "GX-NS-001"))
        record = ledger.record_course_completion(user, course, completed_at=datetime(2026, 3, 2, 1), exam_score=90)
        cert = certificates.issue_course_certificate(record)
        db.session.commit()
        return cert.number


def cli(app, *args):
    from lms.extensions import db

    with app.app_context():
        result = app.test_cli_runner().invoke(args=["backup", *args])
        db.session.remove()
    return result


def people(app) -> int:
    from lms.accounts.models import User
    from lms.extensions import db

    with app.app_context():
        try:
            return db.session.scalar(select(func.count()).select_from(User))
        finally:
            db.session.remove()


@pytest.fixture
def backed_up(tmp_path):
    from contextlib import ExitStack

    with ExitStack() as stack:
        source = installation(stack, tmp_path, "source")
        number = issue_certificate(source)
        made = cli(source, "create", str(tmp_path / "backup"))
        assert made.exit_code == 0, made.output
        assert "存储对象" in made.output and "签名密钥 1 把" in made.output
        yield stack, tmp_path, source, number


def test_a_backup_restored_into_a_fresh_installation_verifies_its_certificates(backed_up):
    from lms.accounts import crypto
    from lms.accounts.models import User
    from lms.extensions import db

    stack, tmp, source, number = backed_up
    backup = tmp / "backup"
    manifest = json.loads((backup / "manifest.json").read_text())
    assert (backup / "secrets.env").stat().st_mode & 0o777 == 0o600
    assert any(name.startswith("storage/certificates/") for name in manifest["files"]), manifest["files"]
    target = installation(stack, tmp, "target")
    with target.app_context():
        target_kid = jwt.get_unverified_header(_signed(target)).get("kid")  # the fresh one signs with its own key

    assert cli(target, "check", number).exit_code != 0  # not there yet
    restored = cli(target, "restore", str(backup))
    assert restored.exit_code == 0, restored.output
    checked = cli(target, "check", number)
    assert checked.exit_code == 0 and "均可验证" in checked.output, checked.output
    with target.app_context():
        user = db.session.scalar(select(User).where(User.mobile == "13655500009"))
        assert crypto.decrypt(user.id_number_encrypted) == ID_NUMBER
        from lms.certificates import signing

        assert target_kid in signing.all_keys() and len(signing.all_keys()) == 2  # its own key stays published
        db.session.remove()

    # A second restore onto the restored installation would overwrite a record: refused, then allowed.
    again = cli(target, "restore", str(backup))
    assert again.exit_code != 0 and "已有账号或学时记录" in again.output and "未做任何更改" in again.output
    assert cli(target, "restore", str(backup), "--replace").exit_code == 0
    assert people(target) == people(source)


def _signed(app) -> str:
    from lms.certificates import signing

    return signing.sign({"probe": True})


def test_an_altered_backup_or_other_keys_are_refused_and_nothing_changes(backed_up):
    stack, tmp, _source, number = backed_up
    backup = tmp / "backup"
    other_keys = installation(stack, tmp, "other-keys", LMS_DATA_KEY="another-data-key")
    refused = cli(other_keys, "restore", str(backup))
    assert refused.exit_code != 0 and "LMS_DATA_KEY" in refused.output and "secrets.env" in refused.output
    assert people(other_keys) == 0

    target = installation(stack, tmp, "target")
    pdf = next((backup / "storage").rglob("*.pdf"))
    pdf.write_bytes(pdf.read_bytes() + b"%")
    refused = cli(target, "restore", str(backup))
    assert refused.exit_code != 0 and "缺失或在备份后被改动" in refused.output and "未做任何更改" in refused.output
    assert people(target) == 0 and cli(target, "check", number).exit_code != 0

    made_again = cli(target, "create", str(backup))
    assert made_again.exit_code != 0 and "已存在" in made_again.output


def test_a_store_that_cannot_be_reached_stops_the_restore_before_anything_changes(backed_up):
    stack, tmp, _source, number = backed_up
    import shutil

    media = tmp / "lost-media"
    target = installation(stack, tmp, "no-store", LMS_MEDIA_ROOT=str(media))
    shutil.rmtree(media, ignore_errors=True)
    media.write_bytes(b"")  # the media folder gone (an unmounted volume): the store cannot be reached
    refused = cli(target, "restore", str(tmp / "backup"))
    assert refused.exit_code != 0, refused.output
    assert "文件存储无法访问" in refused.output and "LMS_STORAGE_URL" in refused.output
    assert "未做任何更改" in refused.output and people(target) == 0


def test_a_store_failing_part_way_says_the_database_is_restored_and_how_to_finish(backed_up):
    stack, tmp, source, number = backed_up
    media = tmp / "failing-media"
    target = installation(stack, tmp, "failing", LMS_MEDIA_ROOT=str(media))
    media.mkdir(exist_ok=True)
    (media / "certificates").write_bytes(b"")  # a file where the certificates' folder must go: saving fails
    failed = cli(target, "restore", str(tmp / "backup"))
    assert failed.exit_code != 0, failed.output
    assert "数据库已恢复" in failed.output and "--replace" in failed.output
    assert "未做任何更改" not in failed.output and people(target) == people(source)
    assert cli(target, "check", number).exit_code != 0  # the certificate's PDF is not there yet

    (media / "certificates").unlink()  # the fault mended: run it again, as the message says
    finished = cli(target, "restore", str(tmp / "backup"), "--replace")
    assert finished.exit_code == 0, finished.output
    checked = cli(target, "check", number)
    assert checked.exit_code == 0 and "均可验证" in checked.output, checked.output
