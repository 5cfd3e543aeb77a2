"""Search fixtures: an index over the eight demo course packages, built once per session."""

from datetime import datetime, timedelta

import pytest

from lms.catalog.packages import load_package
from lms.search import services
from tests.conftest import ROOT

SUBJECT_CODES = {"数字技术": "digital", "知识产权": "ip", "网络安全": "cybersecurity", "应急管理": "emergency"}
CATEGORY = {"公需": "public", "专业": "professional", "选修": "elective"}


def package_document(package, published_at) -> services.CourseDocument:
    return services.CourseDocument(
        code=package.code, title=package.title, summary=package.summary, syllabus=package.syllabus,
        lessons=tuple(lesson.title for chapter in package.chapters for lesson in chapter.lessons),
        tags=tuple(package.tags), publisher=package.publisher_name,
        subject_code=SUBJECT_CODES[package.subject], subject_name=package.subject,
        category=CATEGORY[package.category], credit_hours=package.credit_hours, published_at=published_at,
        lesson_text="\n".join(lesson.body for chapter in package.chapters for lesson in chapter.lessons),
    )


@pytest.fixture(scope="session")
def demo_documents():
    subjects = set(SUBJECT_CODES)
    dirs = sorted(p.parent for p in (ROOT / "courses").glob("*/course.yaml"))
    start = datetime(2026, 1, 5, 9, 0)
    return [package_document(load_package(d, subjects=subjects), start + timedelta(days=i))
            for i, d in enumerate(dirs)]


@pytest.fixture(scope="session")
def demo_index(app, demo_documents, tmp_path_factory):
    path = tmp_path_factory.mktemp("search") / "search-index"
    assert services.rebuild_index(demo_documents, index_dir=path) == 8
    return path
