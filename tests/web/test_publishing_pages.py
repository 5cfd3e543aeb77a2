"""Publisher workspace and review pages: object-level checks, uploads through the page, the workflow."""

import io
import zipfile

from sqlalchemy import func, select

from lms.accounts.models import OrgKind, Role
from lms.accounts.services import get_or_create_organization
from lms.catalog.models import Course, CourseStatus
from lms.media.models import MediaAsset
from tests.conftest import TEST_PASSWORD


def other_client(make_client, user, csrf_token):
    client = make_client()
    token = csrf_token(client.get("/login").get_data(as_text=True))
    assert client.post("/login", data={"login": user.mobile, "password": TEST_PASSWORD,
                                       "csrf_token": token}).status_code == 302
    return client


def new_course(client, csrf_token, code="GX-WEB-001", **kw):
    page = client.get("/publish/courses/new")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    subject_id = html.split('name="subject_id"')[1].split('value="')[1].split('"')[0]
    org_id = html.split('name="organization_id"')[1].split('value="')[1].split('"')[0]
    data = {"csrf_token": csrf_token(html), "code": code, "organization_id": org_id, "title": "应急预案编制实务",
            "subject_id": subject_id, "category": "public", "summary": "面向专业技术人员的应急预案课程。",
            "syllabus": "一、预案体系", "tags": "应急预案", "credit_hours": "", "has_exam": "y", "pass_score": "60"}
    data.update(kw)
    return client.post("/publish/courses/new", data=data)


def test_only_publishers_reach_the_workspace(client, make_user, login):
    assert client.get("/publish/").status_code == 302  # sign in first
    login(make_user())
    assert client.get("/publish/").status_code == 403
    assert client.get("/review/").status_code == 403


def test_create_course_and_bad_input_keeps_what_was_typed(client, publisher, login, csrf_token, db_session):
    login(publisher)
    bad = new_course(client, csrf_token, code="坏 编号")
    assert bad.status_code == 200 and "课程编号只能由大写字母" in bad.get_data(as_text=True)
    assert 'value="应急预案编制实务"' in bad.get_data(as_text=True)
    good = new_course(client, csrf_token)
    assert good.status_code == 302
    course = db_session.scalar(select(Course).where(Course.code == "GX-WEB-001"))
    assert course.status == CourseStatus.DRAFT and course.publisher_id == publisher.role_grants[-1].organization_id
    assert "应急预案编制实务" in client.get("/publish/").get_data(as_text=True)


def test_another_organization_cannot_see_or_change_a_course(app, client, client_factory, publisher, login,
                                                           csrf_token, make_user, db_session):
    login(publisher)
    new_course(client, csrf_token)
    course = db_session.scalar(select(Course).where(Course.code == "GX-WEB-001"))
    with app.test_request_context():
        other_org = get_or_create_organization("另一个基地", OrgKind.PUBLISHER)
        db_session.commit()
    outsider = other_client(client_factory, make_user(roles=(Role.PUBLISHER,), organization=other_org), csrf_token)
    token = csrf_token(outsider.get("/publish/").get_data(as_text=True))
    assert "应急预案编制实务" not in outsider.get("/publish/").get_data(as_text=True)
    assert outsider.get(f"/publish/courses/{course.id}").status_code == 403
    assert outsider.post(f"/publish/courses/{course.id}/chapters", data={"title": "x", "csrf_token": token}).status_code == 403
    assert outsider.get(f"/publish/courses/{course.id}/export").status_code == 403
    assert course.chapters == []


def test_upload_through_the_page_transcodes_and_reports_status(client, publisher, login, csrf_token, clips, db_session):
    login(publisher)
    token = csrf_token(client.get("/publish/media").get_data(as_text=True))
    with open(clips["video"], "rb") as fh:
        response = client.post("/publish/media", data={"csrf_token": token, "file": (fh, "第一讲.mp4")},
                               headers={"Accept": "application/json"}, content_type="multipart/form-data")
    assert response.status_code == 201, response.get_data(as_text=True)
    asset_id = response.get_json()["asset"]["id"]
    status = client.get(f"/publish/media/{asset_id}/status").get_json()["asset"]
    assert (status["status"], status["progress"]) == ("ready", 100)  # the test queue runs jobs at once
    with client.get(f"/media/{asset_id}/poster") as poster:
        assert poster.status_code == 200 and poster.mimetype == "image/jpeg"
    assert "第一讲.mp4" in client.get("/publish/media").get_data(as_text=True)


def test_a_renamed_text_file_is_refused_with_a_message_and_leaves_nothing(client, publisher, login, csrf_token,
                                                                           clips, db_session):
    login(publisher)
    token = csrf_token(client.get("/publish/media").get_data(as_text=True))
    before = db_session.scalar(select(func.count(MediaAsset.id)))
    with open(clips["not_video"], "rb") as fh:
        response = client.post("/publish/media", data={"csrf_token": token, "file": (fh, "lecture.mp4")},
                               headers={"Accept": "application/json"}, content_type="multipart/form-data")
    assert response.status_code == 400
    assert "不是可以播放的视频文件" in response.get_json()["error"]["message"]
    assert db_session.scalar(select(func.count(MediaAsset.id))) == before


def test_oversize_upload_is_refused(app, client, publisher, login, csrf_token, clips):
    login(publisher)
    token = csrf_token(client.get("/publish/media").get_data(as_text=True))
    app.config["LMS_MAX_UPLOAD_MB"] = 0
    try:
        with open(clips["video"], "rb") as fh:
            response = client.post("/publish/media", data={"csrf_token": token, "file": (fh, "big.mp4")},
                                   headers={"Accept": "application/json"}, content_type="multipart/form-data")
    finally:
        app.config["LMS_MAX_UPLOAD_MB"] = 2048
    assert response.status_code == 413 and "大小上限" in response.get_json()["error"]["message"]


def test_reviewer_rejects_with_reason_then_approves(app, client, client_factory, publisher, login, csrf_token,
                                                   make_user, db_session):
    login(publisher)
    new_course(client, csrf_token, has_exam="")
    course = db_session.scalar(select(Course).where(Course.code == "GX-WEB-001"))
    token = csrf_token(client.get(f"/publish/courses/{course.id}").get_data(as_text=True))
    client.post(f"/publish/courses/{course.id}/chapters", data={"title": "第一章", "csrf_token": token})
    client.post(f"/publish/chapters/{course.chapters[0].id}/lessons",
                data={"title": "阅读材料", "kind": "reading", "body": "# 应急预案\n\n正文", "csrf_token": token})
    editor = client.get(f"/publish/courses/{course.id}").get_data(as_text=True)
    for kind, item_id, label in (("chapter", course.chapters[0].id, "章节上移：第一章"),
                                 ("lesson", course.chapters[0].lessons[0].id, "课时下移：阅读材料")):
        assert f'name="kind" value="{kind}"><input type="hidden" name="id" value="{item_id}">' in editor
        assert label in editor and f'action="/publish/courses/{course.id}/move"' in editor
    assert client.post(f"/publish/courses/{course.id}/submit", data={"csrf_token": token}).status_code == 302
    assert course.status == CourseStatus.IN_REVIEW

    reviewer = other_client(client_factory, make_user(roles=(Role.REVIEWER,), real_name="审核员"), csrf_token)
    queue = reviewer.get("/review/").get_data(as_text=True)
    assert "应急预案编制实务" in queue
    page = reviewer.get(f"/review/courses/{course.id}").get_data(as_text=True)
    short = reviewer.post(f"/review/courses/{course.id}/reject", data={"reason": "不行", "csrf_token": csrf_token(page)})
    assert short.status_code == 400 and course.status == CourseStatus.IN_REVIEW
    reviewer.post(f"/review/courses/{course.id}/reject",
                  data={"reason": "请补充预案演练的内容。", "csrf_token": csrf_token(page)})
    assert course.status == CourseStatus.REJECTED
    assert "请补充预案演练的内容" in client.get(f"/publish/courses/{course.id}").get_data(as_text=True)
    client.post(f"/publish/courses/{course.id}/submit", data={"csrf_token": token})
    reviewer.post(f"/review/courses/{course.id}/approve", data={"csrf_token": csrf_token(page)})
    assert course.status == CourseStatus.PUBLISHED
    assert "应急预案编制实务" in client.get("/courses/GX-WEB-001").get_data(as_text=True)


def test_package_zip_upload_reports_problems_and_imports_a_valid_one(app, client, publisher, login, csrf_token,
                                                                     db_session, tmp_path):
    from lms.catalog.services import export_archive

    login(publisher)
    token = csrf_token(client.get("/publish/import").get_data(as_text=True))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("../escape.txt", "x")
    response = client.post("/publish/import", data={"csrf_token": token, "file": (io.BytesIO(buffer.getvalue()), "p.zip")},
                           content_type="multipart/form-data")
    assert response.status_code == 400 and "包外的路径" in response.get_data(as_text=True)

    existing = db_session.scalar(select(Course).where(Course.code == "GX-NS-001"))
    export = client.get(f"/publish/courses/{existing.id}/export")
    assert export.status_code == 403  # not this publisher's course
    with app.app_context():
        path = export_archive(existing, tmp_path / "ns.zip")
    renamed = io.BytesIO()  # the same package under a new code
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(renamed, "w") as target:
        for info in source.infolist():
            data = source.read(info).replace(b"GX-NS-001", b"GX-NS-901") if info.filename.endswith(".yaml") \
                else source.read(info)
            target.writestr(info.filename.replace("GX-NS-001", "GX-NS-901"), data)
    data = renamed.getvalue()
    # Closing the response closes the request body the test client spooled to disk.
    with client.post("/publish/import", data={"csrf_token": token, "file": (io.BytesIO(data), "ns.zip")},
                     content_type="multipart/form-data") as response:
        assert response.status_code == 302, response.get_data(as_text=True)
    imported = db_session.scalar(select(Course).where(Course.code == "GX-NS-901"))
    assert imported.status == CourseStatus.DRAFT
    assert imported.publisher_id == publisher.role_grants[-1].organization_id
    assert [len(ch.lessons) for ch in imported.chapters] == [len(ch.lessons) for ch in existing.chapters]


def test_a_video_over_16_mb_uploads_through_the_page_form(client, publisher, login, csrf_token, clips, tmp_path):
    """The issue: a 72 MB MP4 got 413 although LMS_MAX_UPLOAD_MB is 2048 (the app-wide 16 MB cap
    applied while CSRF parsed the form). The single-request form (no JavaScript) must take it."""
    from tests.clips import pad_with_free_box

    big = pad_with_free_box(clips["video"], tmp_path / "第二讲.mp4", 24 * 1024 * 1024)
    login(publisher)
    token = csrf_token(client.get("/publish/media").get_data(as_text=True))
    with open(big, "rb") as fh:
        response = client.post("/publish/media", data={"csrf_token": token, "file": (fh, "第二讲.mp4")},
                               headers={"Accept": "application/json"}, content_type="multipart/form-data")
    assert response.status_code == 201, response.get_data(as_text=True)[:300]
    assert response.get_json()["asset"]["name"] == "第二讲.mp4"


def test_a_package_over_16_mb_imports_through_the_page_form(app, client, publisher, login, csrf_token, clips,
                                                            db_session, tmp_path):
    login(publisher)
    token = csrf_token(client.get("/publish/import").get_data(as_text=True))
    archive = big_package(app, db_session, clips, tmp_path, "GX-NS-902", 24 * 1024 * 1024)
    with open(archive, "rb") as fh, client.post(
            "/publish/import", data={"csrf_token": token, "file": (fh, "big.zip")},
            content_type="multipart/form-data") as response:
        assert response.status_code == 302, response.get_data(as_text=True)[:500]
    assert db_session.scalar(select(Course).where(Course.code == "GX-NS-902")) is not None


def big_package(app, db_session, clips, tmp_path, code: str, video_bytes: int):
    """GX-NS-001 exported under ``code``, its first lesson video replaced by a clip padded to ``video_bytes``."""
    from lms.catalog.services import export_archive
    from tests.clips import pad_with_free_box

    existing = db_session.scalar(select(Course).where(Course.code == "GX-NS-001"))
    with app.app_context():
        path = export_archive(existing, tmp_path / "source.zip")
    padded = pad_with_free_box(clips["video"], tmp_path / "padded.mp4", video_bytes)
    target = tmp_path / f"{code}.zip"
    replaced = False
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(target, "w") as out:
        for info in source.infolist():
            name = info.filename.replace("GX-NS-001", code)
            if info.filename.endswith(".mp4") and not replaced:
                out.write(padded, name, compress_type=zipfile.ZIP_STORED)
                replaced = True
                continue
            data = source.read(info)
            out.writestr(name, data.replace(b"GX-NS-001", code.encode()) if name.endswith(".yaml") else data)
    assert replaced, "the exported package has no video to pad"
    return target


def test_only_publishers_get_the_upload_cap_and_the_413_says_the_limit(client, make_user, login, csrf_token):
    """Anyone else keeps the app-wide cap: no gigabytes spooled to disk before the login check."""
    body = {"file": (io.BytesIO(b"\0" * (17 * 1024 * 1024)), "x.mp4")}
    anonymous = client.post("/publish/media", data=body, content_type="multipart/form-data",
                            headers={"Accept": "application/json"})
    assert anonymous.status_code == 413
    assert "16 MB" in anonymous.get_json()["error"]["message"]
    login(make_user())
    page = client.post("/publish/import", data={"file": (io.BytesIO(b"\0" * (17 * 1024 * 1024)), "x.zip")},
                       content_type="multipart/form-data")
    assert page.status_code == 413 and "16 MB 的大小限制" in page.get_data(as_text=True)
