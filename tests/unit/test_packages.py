"""Course package validation and import: every shipped package is valid; broken ones say where."""

import shutil
from dataclasses import replace
from pathlib import Path

import pytest
import yaml
from sqlalchemy import func, select

from lms.assessment.models import QuizQuestion
from lms.catalog import duration
from lms.catalog.duration import reading_seconds
from lms.catalog.models import Course, CourseStatus
from lms.catalog.packages import PackageError, exam_section, load_package
from lms.catalog.services import SUBJECTS, import_packages, load_packages
from lms.core.errors import Conflict, InvalidInput

ROOT = Path(__file__).resolve().parents[2]
SUBJECT_NAMES = {name for _, name, _ in SUBJECTS}
SHIPPED = sorted(p.parent for p in (ROOT / "courses").glob("*/course.yaml"))


def test_at_least_eight_courses_two_per_theme_are_shipped():
    packages = [load_package(p, subjects=SUBJECT_NAMES) for p in SHIPPED]
    assert len(packages) >= 8
    for theme in ("数字技术", "知识产权", "网络安全", "应急管理"):
        assert sum(p.subject == theme for p in packages) >= 2, theme


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_package_is_complete(path):
    package = load_package(path, subjects=SUBJECT_NAMES)
    lessons = [lesson for chapter in package.chapters for lesson in chapter.lessons]
    assert len(lessons) >= 3
    assert all(lesson.body.strip() for lesson in lessons)
    assert len(package.questions) >= 5
    assert package.syllabus and package.summary


@pytest.fixture
def broken(tmp_path):
    """A copy of a shipped package to break in one place."""
    target = tmp_path / "GX-NS-001"
    shutil.copytree(ROOT / "courses" / "GX-NS-001", target)

    def edit(change):
        data = yaml.safe_load((target / "course.yaml").read_text(encoding="utf-8"))
        change(data)
        (target / "course.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
        return target

    edit.path = target
    return edit


def problems_of(path) -> list[str]:
    with pytest.raises(PackageError) as info:
        load_package(path, subjects=SUBJECT_NAMES)
    return [str(p) for p in info.value.problems]


def test_missing_field_names_file_and_field(broken):
    path = broken(lambda d: d.pop("title"))
    assert problems_of(path) == ["GX-NS-001/course.yaml: title: 缺少此字段"]


def test_unknown_subject_lists_the_choices(broken):
    path = broken(lambda d: d.update(subject="天文地理"))
    [problem] = problems_of(path)
    assert problem.startswith("GX-NS-001/course.yaml: subject: 未知的科目主题“天文地理”")
    assert "网络安全" in problem


def test_bad_yaml_reports_the_line(broken):
    (broken.path / "course.yaml").write_text("code: GX-NS-001\ntitle: [unclosed\n", encoding="utf-8")
    [problem] = problems_of(broken.path)
    assert "YAML 格式错误" in problem and "第 " in problem


@pytest.mark.parametrize("bad", ["../GX-DT-001/lessons/01-digital-economy-concepts.md", "/etc/passwd"])
def test_path_outside_the_package_is_refused(broken, bad):
    def change(d):
        d["chapters"][0]["lessons"][0]["text"] = bad

    path = broken(change)
    [problem] = problems_of(path)
    assert "chapters[0].lessons[0].text" in problem and "课程包之外" in problem


def test_symlink_inside_the_package_is_refused(broken, tmp_path):
    outside = tmp_path / "secret.md"
    outside.write_text("# secret", encoding="utf-8")
    lesson = broken.path / "lessons" / "link.md"
    lesson.symlink_to(outside)

    def change(d):
        d["chapters"][0]["lessons"][0]["text"] = "lessons/link.md"

    [problem] = problems_of(broken(change))
    assert "符号链接" in problem


def test_all_problems_are_reported_at_once(broken):
    def change(d):
        d["credit_hours"] = 1.3
        d["category"] = "必修"
        d["chapters"][0]["lessons"][0]["kind"] = "podcast"
        d["surprise"] = 1

    problems = problems_of(broken(change))
    fields = {p.split(": ")[1] for p in problems}
    assert fields == {"credit_hours", "category", "chapters[0].lessons[0].kind", "surprise"}


def test_quiz_answers_are_checked(broken):
    quiz = yaml.safe_load((broken.path / "quiz.yaml").read_text(encoding="utf-8"))
    single = next(i for i, q in enumerate(quiz["questions"]) if q["type"] == "single")
    quiz["questions"][single]["answer"] = "Z"
    (broken.path / "quiz.yaml").write_text(yaml.safe_dump(quiz, allow_unicode=True), encoding="utf-8")
    [problem] = problems_of(broken.path)
    assert problem.startswith(f"GX-NS-001/quiz.yaml: questions[{single}].answer")


def test_code_must_match_folder(broken):
    [problem] = problems_of(broken(lambda d: d.update(code="GX-NS-999")))
    assert "文件夹名" in problem


def test_one_broken_package_fails_the_whole_batch_before_any_write(app, db_session, broken):
    broken(lambda d: d.update(category="必修"))
    with app.test_request_context(), pytest.raises(PackageError) as info:
        load_packages([ROOT / "courses" / "GX-EM-001", broken.path])
    assert [str(p) for p in info.value.problems] == [
        "GX-NS-001/course.yaml: category: 科目类别“必修”无效，可选：公需、专业、选修"]


def test_import_writes_course_outline_questions_and_probed_video(app, db_session):
    with app.test_request_context():
        [package] = load_packages([ROOT / "courses" / "GX-IP-002"])
        result = import_packages(None, [package])
    course = result.imported[0]
    assert course.status == CourseStatus.PUBLISHED and course.published_at is not None
    assert [c.title for c in course.chapters] == [c.title for c in package.chapters]
    videos = [lesson for lesson in course.lessons if lesson.kind == "video"]
    assert videos and all(v.media_asset.duration_seconds > 0 for v in videos)
    spec_seconds = [lesson.demo_seconds for ch in package.chapters for lesson in ch.lessons if lesson.kind == "video"]
    assert [v.media_asset.duration_seconds for v in videos] == spec_seconds
    count = db_session.scalar(select(func.count(QuizQuestion.id)).where(QuizQuestion.course_id == course.id))
    assert count == len(package.questions)


def test_import_refuses_hours_beyond_the_videos_and_reading_time(app, db_session, broken, runner):
    def short(data):
        data["code"] = "GX-NS-001"
        data["credit_hours"] = 0.5
        for chapter in data["chapters"]:
            for lesson in chapter["lessons"]:
                if lesson["kind"] == "video":
                    lesson["demo_seconds"] = 25  # 75 s of video in all

    broken(short)
    with app.test_request_context():
        [package] = [replace(p, code="GX-HRS-001") for p in load_packages([broken.path])]  # a code not taken
        reading = sum(reading_seconds(lesson.body) for ch in package.chapters for lesson in ch.lessons
                      if lesson.kind == "reading")
        total = 75 + reading
        expected = (f"课程标称 0.5 学时，但视频与阅读时长合计 {total // 60} 分 {total % 60} 秒"
                    f"（视频 1 分 15 秒，阅读约 {reading // 60} 分 {reading % 60} 秒），按每学时 45 分钟最多可认定 0.0 学时")
        with pytest.raises(InvalidInput) as info:
            import_packages(None, [package])
        assert expected in info.value.message
        db_session.rollback()
        assert db_session.scalar(select(Course.id).where(Course.code == "GX-HRS-001")) is None
    folder = broken.path.rename(broken.path.with_name("GX-HRS-001"))
    text = (folder / "course.yaml").read_text(encoding="utf-8").replace("code: GX-NS-001", "code: GX-HRS-001")
    (folder / "course.yaml").write_text(text, encoding="utf-8")
    result = runner.invoke(args=["courses", "import", "--draft", str(folder)])
    assert result.exit_code != 0 and "未导入任何内容" in result.output and expected in result.output


def test_every_shipped_package_earns_no_more_hours_than_its_content_allows(app, db_session):
    from lms.publishing import services as publishing

    with app.test_request_context():
        shipped = load_packages(sorted(p.parent for p in (ROOT / "courses").glob("*/course.yaml")))
        # Under codes of their own (the test database holds some of them already); import checks the rule.
        result = import_packages(None, [replace(p, code="T" + p.code) for p in shipped])
        assert len(result.imported) >= 8
        for course in result.imported:
            video, reading = duration.study_seconds(course)
            assert publishing.most_credit_hours(course) >= course.credit_hours, (course.code, video, reading)
            assert (video + reading) >= course.credit_hours * 45 * 60  # 45 minutes a 学时, the national rule


def test_reading_time_counts_the_characters_read_at_300_a_minute():
    assert duration.READING_CHARS_PER_MINUTE == 300
    assert reading_seconds("一" * 300) == 60
    assert reading_seconds("## 标题\n\n- **要点** 一\n> 引文") == reading_seconds("标题要点一引文") == 1


def test_duplicate_code_is_a_conflict_unless_skipped(app, db_session):
    with app.test_request_context():
        packages = load_packages([ROOT / "courses" / "GX-NS-001"])  # imported by the session fixture
        with pytest.raises(Conflict, match="已存在"):
            import_packages(None, packages)
        assert import_packages(None, packages, skip_existing=True).skipped == ["GX-NS-001"]


# ---------------------------------------------------------------- exam.attempt_size

def test_shipped_pools_are_larger_than_an_attempt():
    for path in SHIPPED:
        package = load_package(path, subjects=SUBJECT_NAMES)
        if len(package.questions) > 5:
            assert package.exam_attempt_size is not None, path.name
            assert 5 <= package.exam_attempt_size < len(package.questions), path.name


def test_attempt_size_is_optional_and_absent_means_the_whole_pool(broken):
    package = load_package(broken(lambda d: d["exam"].pop("attempt_size")), subjects=SUBJECT_NAMES)
    assert package.exam_attempt_size is None and len(package.questions) == 10


def test_attempt_size_at_the_bounds_is_accepted(broken):
    for size in (5, 10):
        package = load_package(broken(lambda d, size=size: d["exam"].update(attempt_size=size)), subjects=SUBJECT_NAMES)
        assert package.exam_attempt_size == size


@pytest.mark.parametrize("bad, reason", [
    (4, "每次测验的抽题数至少为 5 题（现为 4 题）"),
    (0, "每次测验的抽题数至少为 5 题（现为 0 题）"),
    (-6, "每次测验的抽题数至少为 5 题（现为 -6 题）"),
    (11, "每次测验的抽题数（11 题）不能多于题库题数（10 题）"),
    ("六", "每次测验的抽题数应为整数，至少 5 题，至多为题库题数（10 题）"),
    (6.5, "每次测验的抽题数应为整数，至少 5 题，至多为题库题数（10 题）"),
    (True, "每次测验的抽题数应为整数，至少 5 题，至多为题库题数（10 题）"),
    ([6], "每次测验的抽题数应为整数，至少 5 题，至多为题库题数（10 题）"),
])
def test_a_bad_attempt_size_is_refused_naming_the_field(broken, bad, reason):
    path = broken(lambda d: d["exam"].update(attempt_size=bad))
    assert problems_of(path) == [f"GX-NS-001/course.yaml: exam.attempt_size: {reason}"]


def test_a_broken_question_file_is_reported_alone(broken):
    quiz = yaml.safe_load((broken.path / "quiz.yaml").read_text(encoding="utf-8"))
    quiz["questions"][0]["answer"] = "Z"  # leaves 9 valid questions: the pool's size is not known
    (broken.path / "quiz.yaml").write_text(yaml.safe_dump(quiz, allow_unicode=True), encoding="utf-8")
    [problem] = problems_of(broken(lambda d: d["exam"].update(attempt_size=10)))
    assert problem.startswith("GX-NS-001/quiz.yaml: questions[0].answer")


def test_a_bad_attempt_size_imports_nothing(app, db_session, broken):
    broken(lambda d: d["exam"].update(attempt_size=12))
    with app.test_request_context(), pytest.raises(PackageError) as info:
        load_packages([ROOT / "courses" / "GX-EM-001", broken.path])
    assert [str(p) for p in info.value.problems] == [
        "GX-NS-001/course.yaml: exam.attempt_size: 每次测验的抽题数（12 题）不能多于题库题数（10 题）"]
    assert db_session.scalar(select(func.count(Course.id)).where(Course.code == "GX-EM-001")) == 0


def test_import_stores_the_attempt_size_and_the_exam_section_gives_it_back(app, db_session, broken):
    course = db_session.scalar(select(Course).where(Course.code == "GX-NS-001"))  # imported by the session fixture
    assert course.exam_attempt_size == 6 and course.pass_score == 60
    for size in (6, None):
        course.exam_attempt_size = size
        path = broken(lambda d: d.update(exam=exam_section(course)))
        package = load_package(path, subjects=SUBJECT_NAMES)
        assert (package.exam_attempt_size, package.pass_score) == (size, 60)
