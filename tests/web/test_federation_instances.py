"""Two real instances on loopback share courseware (issue 19, items 1 and 2).

The hub and the subscriber each have their own database (one SQLite, one PostgreSQL: the subscriber
on the database under test, the hub on the other), media folder and signing keys, and each is served
by a server process of its own (tests/app_process.py). The admins' actions go through the
``flask federation`` commands on each instance; the subscriber's catalog is read from its server.

Shown: a course shared on the hub appears in the subscriber's catalog after one pull, playable, with
its origin; a new version upstream (after the hub rotated its key: the rollover is announced, so the
pin follows) arrives as a new version; a tampered package (one byte changed) and an entry signed by
a key the subscriber never pinned are refused with the reason shown, and nothing is imported.
"""

import os
import re
import shutil
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import scoped_session, sessionmaker

from tests import app_process
from tests.conftest import (
    TEST_PASSWORD,
    _csrf_token,
    build_database,
    credit_code,
    fresh_database,
    id_number,
    make_test_app,
)

HUB_NAME = "国家专业技术人员继续教育公共服务平台"
SUB_NAME = "江苏省专业技术人员继续教育平台"
OTHER_KIND = {"sqlite": "postgresql", "postgresql": "sqlite"}


@contextmanager
def database_of_kind(kind: str, tmp: Path, name: str):
    saved = os.environ.get("LMS_TEST_DATABASE")
    os.environ["LMS_TEST_DATABASE"] = kind
    try:
        manager = fresh_database(tmp, name)
        url = manager.__enter__()
    finally:
        if saved is None:
            os.environ.pop("LMS_TEST_DATABASE", None)
        else:
            os.environ["LMS_TEST_DATABASE"] = saved
    try:
        yield url
    finally:
        manager.__exit__(None, None, None)


@contextmanager
def on(app):
    """Work on ``app``'s own database (the test's rolled-back session belongs to the main test app)."""
    from lms.extensions import db

    with app.app_context():
        engine = db.engine
    session = scoped_session(sessionmaker(bind=engine))
    saved, db.session = db.session, session
    try:
        with app.test_request_context():
            yield session
    finally:
        session.remove()
        db.session = saved


def _person(real_name: str, n: int, *roles):
    from lms.accounts import services

    user = services.create_person(None, services.PersonData(
        real_name=real_name, id_number=id_number(f"32010219800101{n:03d}"), password=TEST_PASSWORD,
        mobile=f"1370000{n:04d}", email=None, region_code="320000", employer_name="江苏省人社厅",
        employer_credit_code=credit_code("11320000MB0000000")), roles=())
    for role in roles:
        services.grant_role(None, user, role)
    return user


class Instance:
    def __init__(self, name: str, app, base: str, process, log: Path):
        self.name, self.app, self.base, self.process, self.log = name, app, base, process, log

    def flask(self, *args: str, input: str | None = None) -> str:
        """Run ``flask <args>`` on this instance (its database, media folder and keys)."""
        with on(self.app):
            result = self.app.test_cli_runner().invoke(args=list(args), input=input, catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output


@pytest.fixture(scope="module")
def instances(tmp_path_factory):
    kind = os.environ.get("LMS_TEST_DATABASE", "sqlite")
    tmp_hub, tmp_sub = tmp_path_factory.mktemp("hub"), tmp_path_factory.mktemp("subscriber")
    saved_instance = os.environ.get("LMS_INSTANCE_PATH")
    hub_port, sub_port = app_process.free_port(), app_process.free_port()
    processes = []
    with database_of_kind(OTHER_KIND[kind], tmp_hub, "hub") as hub_url, database_of_kind(kind, tmp_sub, "sub") as sub_url:
        hub_settings = {"LMS_PUBLIC_URL": f"http://127.0.0.1:{hub_port}", "LMS_CERT_ISSUER_NAME": HUB_NAME,
                        "LMS_FEDERATION_RATE_LIMIT": "1000 per minute"}
        sub_settings = {"LMS_PUBLIC_URL": f"http://127.0.0.1:{sub_port}", "LMS_CERT_ISSUER_NAME": SUB_NAME,
                        "LMS_FEDERATION_ALLOW_HTTP": True, "LMS_FEDERATION_ALLOW_PRIVATE": True,
                        "LMS_FEDERATION_TIMEOUT_SECONDS": 20}
        hub_app = make_test_app(hub_url, tmp_hub, **hub_settings)
        build_database(hub_app, packages=("GX-NS-001", "GX-DT-002"))
        sub_app = make_test_app(sub_url, tmp_sub, **sub_settings)
        build_database(sub_app)
        from lms.accounts.services import grant_role
        from lms.catalog.models import Course

        with on(hub_app) as session:
            _person("中心管理员", 1, "admin")
            _person("中心审核员", 2, "reviewer")
            publisher = _person("中心发布员", 3)
            for course in session.scalars(select(Course)):
                grant_role(None, publisher, "publisher", organization=course.publisher)
            session.commit()
        with on(sub_app) as session:
            _person("省平台管理员", 11, "admin")
            _person("省平台学员", 12, "learner")
            session.commit()
        try:
            processes.append(app_process.start({"database_url": hub_url, "tmp_dir": str(tmp_hub), **hub_settings},
                                               hub_port, tmp_hub / "server.log"))
            processes.append(app_process.start({"database_url": sub_url, "tmp_dir": str(tmp_sub), **sub_settings},
                                               sub_port, tmp_sub / "server.log"))
            yield (Instance("hub", hub_app, f"http://127.0.0.1:{hub_port}", processes[0], tmp_hub / "server.log"),
                   Instance("sub", sub_app, f"http://127.0.0.1:{sub_port}", processes[1], tmp_sub / "server.log"))
        finally:
            for process in processes:
                app_process.stop(process)
            from lms.extensions import db

            for app in (hub_app, sub_app):
                with app.app_context():
                    db.engine.dispose()
            if saved_instance is not None:
                os.environ["LMS_INSTANCE_PATH"] = saved_instance


HUB_ADMIN, HUB_REVIEWER, HUB_PUBLISHER, SUB_ADMIN = "13700000001", "13700000002", "13700000003", "13700000011"
SUB_LEARNER = "13700000012"


@contextmanager
def _signed_in(instance: Instance, login: str):
    """A client of the instance's server, signed in as ``login``."""
    with httpx.Client(base_url=instance.base, timeout=30) as browser:
        token = _csrf_token(browser.get("/login").text)
        signed_in = browser.post("/login", data={"login": login, "password": TEST_PASSWORD, "csrf_token": token})
        assert signed_in.status_code == 302
        yield browser


def _play(sub: Instance, code: str) -> None:
    """A learner of the subscriber enrols in the imported course and its first video plays."""
    with _signed_in(sub, SUB_LEARNER) as browser:
        token = _csrf_token(browser.get(f"/courses/{code}").text)
        enrolled = browser.post(f"/learn/{code}/enrol", data={"csrf_token": token})
        assert enrolled.status_code == 302
        player = browser.get(browser.get(enrolled.headers["Location"]).headers["Location"])
        assert player.status_code == 200
        video = re.search(r'data-mp4-url="([^"]+)"', player.text)
        assert video, "the player names no video"
        clip = browser.get(video.group(1), headers={"Range": "bytes=0-1023"})
        assert clip.status_code in (200, 206) and clip.headers["Content-Type"].startswith("video/")


def _new_version_upstream(hub: Instance, code: str, title: str) -> None:
    """On the hub: a publisher makes the next version with a new title, a reviewer approves it, and
    the worker's job builds its package (here through the command that runs the same job)."""
    from lms.accounts.services import find_by_login
    from lms.catalog.models import Course, CourseStatus
    from lms.publishing import services as publishing

    with on(hub.app) as session:
        publisher, reviewer = find_by_login(HUB_PUBLISHER), find_by_login(HUB_REVIEWER)
        current = session.scalar(select(Course).where(Course.code == code, Course.status == CourseStatus.PUBLISHED))
        draft = publishing.new_version(publisher, current)
        draft.title = title
        publishing.submit_course(publisher, draft)
        publishing.approve_course(reviewer, draft)
        session.commit()
    assert f"{code} v" in hub.flask("federation", "build-archives")


def _archive_file(hub: Instance, code: str) -> Path:
    from lms.catalog.models import Course
    from lms.core.storage import media_path
    from lms.federation.models import FeedArchive

    with on(hub.app) as session:
        archive = session.scalar(select(FeedArchive).join(Course, Course.id == FeedArchive.course_id)
                                 .where(Course.code == code).order_by(Course.version.desc()))
        return media_path(archive.path)


def _sub_courses(sub: Instance, code: str):
    from lms.catalog.models import Course
    from lms.federation.models import CourseOrigin

    with on(sub.app) as session:
        rows = session.execute(select(Course.version, Course.status, Course.title, CourseOrigin.original_version)
                               .outerjoin(CourseOrigin, CourseOrigin.course_id == Course.id)
                               .where(Course.code == code).order_by(Course.version)).all()
        return [tuple(row) for row in rows]


def _progress_page(sub: Instance) -> str:
    """The subscription's progress page as the subscriber's admin sees it (served by its server)."""
    with _signed_in(sub, SUB_ADMIN) as browser:
        page = browser.get("/admin/federation/subscriptions/1")
        assert page.status_code == 200
        return page.text


def test_a_course_shared_on_the_hub_travels_to_the_subscriber_and_tampering_is_refused(instances):
    from lms.catalog.models import Course
    from lms.certificates import signing
    from lms.media.models import MediaAsset, MediaStatus

    hub, sub = instances
    feed_url = f"{hub.base}/federation/courses"

    # The hub shares a course and issues a token for the subscriber.
    assert "已共享 GX-NS-001" in hub.flask("federation", "share", "GX-NS-001", "--admin", HUB_ADMIN)
    secret = re.search(r"(gxf_\S+)", hub.flask("federation", "token", SUB_NAME, "--admin", HUB_ADMIN)).group(1)
    feed = httpx.get(feed_url, timeout=30).json()
    assert [e["code"] for e in feed["entries"]] == ["GX-NS-001"] and feed["instance"]["name"] == HUB_NAME
    archive_url = f"{hub.base}/federation/courses/GX-NS-001/1/package.zip"
    assert httpx.get(archive_url, timeout=30).status_code == 401  # answer keys: never without a token
    assert httpx.get(feed_url, params={"updated_since": "yesterday"}, timeout=30).status_code == 400
    first_kid = httpx.get(f"{hub.base}/.well-known/jwks.json", timeout=30).json()["keys"][0]["kid"]

    # The subscriber's admin subscribes, checks the fingerprint shown, and the first pull imports it.
    out = sub.flask("federation", "subscribe", feed_url, "--token", secret, "--admin", SUB_ADMIN, "--publish", input="y\n")
    assert first_kid[:4] in out and "已导入 GX-NS-001 v1" in out, out
    page = httpx.get(f"{sub.base}/courses/GX-NS-001", timeout=30)
    assert page.status_code == 200
    assert re.search(rf"来源</dt><dd[^>]*>{HUB_NAME}<br>", page.text) and "原课程编号 GX-NS-001 第 1 版" in page.text
    assert "GX-NS-001" in httpx.get(f"{sub.base}/courses", timeout=30).text
    with on(sub.app) as session:  # playable: every video lesson has its file, ready to play
        course = session.scalar(select(Course).where(Course.code == "GX-NS-001"))
        assets = [lesson.media_asset for lesson in course.lessons if lesson.kind == "video"]
        assert assets and all(isinstance(a, MediaAsset) and a.status == MediaStatus.READY for a in assets)
        from lms.core.storage import media_path

        assert all(media_path(a.mp4_path).is_file() for a in assets)
    _play(sub, "GX-NS-001")

    # The hub rotates its key (announced in the feed, signed by the old one) and publishes version 2.
    with on(hub.app):
        signing.generate_key()
    _new_version_upstream(hub, "GX-NS-001", "网络安全法律法规与案例（2026 修订）")
    out = sub.flask("federation", "pull")
    assert "已导入 GX-NS-001 v2" in out and "新确认密钥 1 把" in out, out
    assert _sub_courses(sub, "GX-NS-001") == [(1, "retired", _sub_courses(sub, "GX-NS-001")[0][2], 1),
                                              (2, "published", "网络安全法律法规与案例（2026 修订）", 2)]
    page = httpx.get(f"{sub.base}/courses/GX-NS-001", timeout=30).text
    assert "2026 修订" in page and "原课程编号 GX-NS-001 第 2 版" in page
    from lms.learning.models import Enrollment

    with on(sub.app) as session:  # the learner who started version 1 keeps it
        studied = session.scalar(select(Course.version).join(Enrollment, Enrollment.course_id == Course.id))
        assert studied == 1

    # A tampered package: one byte of the archive changed after the feed signed its hash.
    hub.flask("federation", "share", "GX-DT-002", "--admin", HUB_ADMIN)
    archive = _archive_file(hub, "GX-DT-002")
    data = bytearray(archive.read_bytes())
    data[len(data) // 2] ^= 0x01
    archive.write_bytes(bytes(data))
    out = sub.flask("federation", "pull")
    assert "已拒绝 GX-DT-002 v1：课程包的 SHA-256 与签名条目不符" in out, out
    assert _sub_courses(sub, "GX-DT-002") == []

    # An entry signed by a key the subscriber never pinned (the hub's keys replaced, no announcement).
    with on(hub.app):
        shutil.rmtree(signing.key_dir())
        signing.generate_key()
    _new_version_upstream(hub, "GX-DT-002", "数字技术赋能（第二版）")
    out = sub.flask("federation", "pull")
    assert "已拒绝 GX-DT-002 v2：条目由未知的密钥" in out, out
    assert _sub_courses(sub, "GX-DT-002") == []

    # Both refusals are on the subscription's page, with their reasons; counts add up.
    text = _progress_page(sub)
    assert "课程包的 SHA-256 与签名条目不符" in text and "条目由未知的密钥" in text
    assert re.search(r"已导入</div>\s*<div[^>]*>2 条", text) and re.search(r"已拒绝</div>\s*<div[^>]*>2 条", text)

    # Unsubscribing stops updates and keeps what was imported.
    assert "已取消订阅" in sub.flask("federation", "unsubscribe", "1", "--admin", SUB_ADMIN)
    _new_version_upstream(hub, "GX-NS-001", "网络安全法律法规与案例（第三版）")
    with on(sub.app):
        result = sub.app.test_cli_runner().invoke(args=["federation", "pull", "1"])
    assert result.exit_code != 0 and "已取消" in result.output
    assert [v for v, *_ in _sub_courses(sub, "GX-NS-001")] == [1, 2]
    assert httpx.get(f"{sub.base}/courses/GX-NS-001", timeout=30).status_code == 200
