"""Course packages as zip files: the round trip, and what a hostile archive cannot do."""

import io
import os
import stat
import zipfile
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from lms.assessment.models import QuizQuestion
from lms.catalog.archives import unpack
from lms.catalog.models import Course
from lms.catalog.packages import PackageError
from lms.catalog.services import export_archive, import_archive
from lms.core.errors import InvalidInput

pytestmark = pytest.mark.usefixtures("ctx")
MB = 1024 * 1024


def snapshot(db_session, course):
    questions = db_session.scalars(select(QuizQuestion).where(QuizQuestion.course_id == course.id)
                                   .order_by(QuizQuestion.position)).all()
    return {
        "fields": (course.code, course.title, course.subject.name, course.category, course.credit_hours,
                   course.summary, course.syllabus, course.tags, course.pass_score, course.exam_attempt_size,
                   course.publisher.name),
        "outline": [(ch.title, [(lesson.title, lesson.kind, lesson.body,
                                 lesson.media_asset.duration_seconds if lesson.media_asset else None)
                                for lesson in ch.lessons]) for ch in course.chapters],
        "questions": [(q.kind, q.text, q.options, q.answer, q.explanation) for q in questions],
    }


def test_export_then_import_gives_the_same_course(db_session, tmp_path):
    course = db_session.scalar(select(Course).where(Course.code == "GX-NS-001"))
    before = snapshot(db_session, course)
    archive = export_archive(course, tmp_path / "GX-NS-001.zip")
    names = zipfile.ZipFile(archive).namelist()
    assert "GX-NS-001/course.yaml" in names and "GX-NS-001/quiz.yaml" in names
    assert any(n.startswith("GX-NS-001/media/") for n in names)

    db_session.delete(course)
    db_session.flush()
    [imported] = import_archive(None, archive, max_bytes=100 * MB, publish=True).imported
    assert snapshot(db_session, imported) == before
    assert imported.credit_hours == Decimal("2")


def make_zip(entries, *, symlink=None) -> Path:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
        if symlink:
            info = zipfile.ZipInfo(symlink)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, "/etc/passwd")
    return buffer.getvalue()


@pytest.mark.parametrize("entries, symlink, reason", [
    ({"../evil.txt": "x"}, None, "包外的路径"),
    ({"/etc/evil.txt": "x"}, None, "包外的路径"),
    ({"pkg\\..\\evil.txt": "x"}, None, "包外的路径"),
    ({"pkg/course.yaml": "code: X"}, "pkg/lessons/link.md", "不允许链接"),
    ({"bomb.txt": "0" * (20 * MB)}, None, "压缩炸弹"),
    ({f"pkg/{n}.md": "x" for n in range(2001)}, None, "文件过多"),
])
def test_hostile_archives_are_refused_before_anything_is_written(tmp_path, entries, symlink, reason):
    archive = tmp_path / "package.zip"
    archive.write_bytes(make_zip(entries, symlink=symlink))
    dest = tmp_path / "out"
    dest.mkdir()
    with pytest.raises(InvalidInput, match=reason):
        unpack(archive, dest, max_bytes=100 * MB)
    assert not any(dest.iterdir())


def test_size_limit_counts_what_is_really_extracted(tmp_path):
    archive = tmp_path / "package.zip"
    archive.write_bytes(make_zip({"pkg/a.bin": os.urandom(2 * MB)}))  # incompressible: no bomb, just large
    with pytest.raises(InvalidInput, match="大小上限"):
        unpack(archive, tmp_path, max_bytes=MB)


def test_not_a_zip(tmp_path):
    archive = tmp_path / "package.zip"
    archive.write_text("plain text", encoding="utf-8")
    with pytest.raises(InvalidInput, match="不是有效的 zip"):
        unpack(archive, tmp_path, max_bytes=MB)


def test_a_broken_package_inside_a_zip_names_file_and_field(db_session, tmp_path):
    archive = tmp_path / "package.zip"
    archive.write_bytes(make_zip({"GX-BAD-001/course.yaml": "code: GX-BAD-001\ntitle: 缺字段的课程\n"}))
    before = db_session.scalar(select(func.count(Course.id)))
    with pytest.raises(PackageError) as info:
        import_archive(None, archive, max_bytes=MB)
    assert "GX-BAD-001/course.yaml: subject: 缺少此字段" in [str(p) for p in info.value.problems]
    assert db_session.scalar(select(func.count(Course.id))) == before
