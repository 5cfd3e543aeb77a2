"""An upload's finish on a committed database of its own (not the rolled-back test session): the
finish must write though another process committed while it probed the video."""

import pytest
from sqlalchemy import func, select

from lms.accounts.models import Role
from lms.media.models import MediaAsset
from tests.upload_helpers import PartUploader


@pytest.fixture(autouse=True)
def db_session():
    """Not the rolled-back test session: the app below has a database of its own, committed."""
    yield None


def test_a_finish_writes_though_another_writer_committed_while_it_probed_the_video(tmp_path, clips):
    """On a committed database of its own: while the finish probes the video (long, no write lock
    held), another process commits a write. The finish's own write must still go through: a deferred
    SQLite transaction that read before that commit could not write ("database is locked", a 500)."""
    import re

    from sqlalchemy import create_engine, text

    from lms.accounts import services as accounts
    from lms.accounts.models import OrgKind
    from lms.core import jobs
    from lms.extensions import db
    from lms.media import services as media
    from tests.conftest import TEST_PASSWORD, build_database, fresh_database, id_number, make_test_app

    previous_app = jobs._app
    with fresh_database(tmp_path, "finish_lock") as url:
        app = make_test_app(url, tmp_path, LMS_JOBS_IMMEDIATE=False, LMS_JOBS_FILE=str(tmp_path / "jobs.sqlite3"))
        build_database(app)
        with app.test_request_context():
            person = accounts.create_person(None, accounts.PersonData(
                real_name="锁发布员", id_number=id_number("11010519900105001"), password=TEST_PASSWORD,
                mobile="13655500059", region_code="110000"))
            accounts.grant_role(None, person, Role.PUBLISHER,
                                organization=accounts.get_or_create_organization("锁测试基地", OrgKind.PUBLISHER))
            db.session.commit()
        other = create_engine(url)  # another process's connection
        real_prepare = media.prepare_video

        def prepare_while_another_writes(*args, **kwargs):
            prepared = real_prepare(*args, **kwargs)
            with other.begin() as connection:
                connection.execute(text("UPDATE organization SET name = name"))
            return prepared

        client = app.test_client()
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"',
                          client.get("/login").get_data(as_text=True)).group(1)
        assert client.post("/login", data={"login": "13655500059", "password": TEST_PASSWORD,
                                           "csrf_token": token}).status_code == 302
        page = client.get("/publish/media").get_data(as_text=True)
        uploader = PartUploader(client, re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"',
                                                  page).group(1))
        created = uploader.create(clips["video"])
        assert created.status_code == 201, created.get_data(as_text=True)
        upload = created.get_json()["upload"]
        uploader.send(upload["url"], clips["video"], part_size=upload["part_size"])
        media.prepare_video = prepare_while_another_writes
        try:
            finished = uploader.finish(upload["url"])
        finally:
            media.prepare_video = real_prepare
            other.dispose()
        assert finished.status_code == 201, finished.get_data(as_text=True)[-2000:]
        with app.app_context():
            assert db.session.scalar(select(func.count(MediaAsset.id))) == 1
            db.session.remove()
            db.engine.dispose()
        if previous_app is not None:
            jobs.init_app(previous_app)  # the queue goes back to the session's app
