"""Course packages: folders of YAML and Markdown (format: courses/README.md).

``load_package`` validates a folder completely and returns a :class:`CoursePackage`, or raises
:class:`PackageError` listing every problem as file, field and reason. ``import_packages``
writes validated packages in the caller's transaction.
"""

import hashlib
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path

import yaml
from flask_babel import gettext as _

from ..accounts.identifiers import IdentifierError, normalize_credit_code
from ..media.services import VIDEO_TYPES
from .models import CATEGORY_LABELS

COURSE_FILE = "course.yaml"
CODE_PATTERN = re.compile(r"^[A-Z0-9][A-Z0-9-]{1,30}[A-Z0-9]$")
LESSON_KINDS = ("video", "reading")
QUESTION_KINDS = ("single", "multiple", "truefalse")
MIN_QUESTIONS = 5  # a pool, and an attempt drawn from it, has at least this many questions
MAX_TEXT_BYTES = 512 * 1024
MAX_VIDEO_BYTES = 2 * 1024 ** 3

_COURSE_KEYS = {"code", "title", "subject", "category", "credit_hours", "publisher", "summary", "syllabus",
                "tags", "exam", "chapters"}
_LESSON_KEYS = {"title", "kind", "text", "video", "demo_seconds"}
_EXAM_KEYS = {"questions", "pass_score", "attempt_size"}
_QUESTION_KEYS = {"type", "text", "options", "answer", "explanation"}


@dataclass(frozen=True)
class Problem:
    file: str
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.field}: {self.message}" if self.field else f"{self.file}: {self.message}"


class PackageError(Exception):
    def __init__(self, problems: list[Problem]):
        super().__init__("\n".join(map(str, problems)))
        self.problems = problems


@dataclass(frozen=True)
class LessonSpec:
    title: str
    kind: str
    body: str
    video: Path | None
    demo_seconds: int


@dataclass(frozen=True)
class ChapterSpec:
    title: str
    lessons: list[LessonSpec]


@dataclass(frozen=True)
class QuestionSpec:
    kind: str
    text: str
    options: list[str]
    answer: str
    explanation: str


@dataclass(frozen=True)
class CoursePackage:
    root: Path
    code: str
    title: str
    subject: str
    category: str
    credit_hours: Decimal
    publisher_name: str
    publisher_credit_code: str | None
    summary: str
    syllabus: str
    tags: list[str]
    pass_score: int | None
    chapters: list[ChapterSpec]
    questions: list[QuestionSpec] = field(default_factory=list)
    exam_attempt_size: int | None = None  # questions drawn per exam attempt; None: the whole pool

    def fingerprint(self) -> str:
        return hashlib.sha256(repr(self).encode()).hexdigest()[:16]


class _Checker:
    """Collects problems instead of stopping at the first, so one run shows everything to fix."""

    def __init__(self, root: Path):
        self.root = root
        self.problems: list[Problem] = []

    def problem(self, file: str, field_: str, message: str) -> None:
        self.problems.append(Problem(f"{self.root.name}/{file}", field_, message))

    def text(self, data: dict, key: str, file: str, *, prefix: str = "", required=True, max_len=None) -> str:
        value = data.get(key)
        name = prefix + key
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                self.problem(file, name, _("缺少此字段"))
            return ""
        if not isinstance(value, str):
            self.problem(file, name, _("应为文本"))
            return ""
        value = value.strip()
        if max_len and len(value) > max_len:
            self.problem(file, name, _("不能超过 %(max)s 个字（现为 %(n)s 个）", max=max_len, n=len(value)))
        return value

    def unknown_keys(self, data: dict, allowed: set, file: str, prefix: str = "") -> None:
        for key in sorted(set(data) - allowed, key=str):
            self.problem(file, prefix + str(key), _("未知字段（请对照 courses/README.md 检查拼写）"))

    def path(self, value, file: str, field_: str, *, max_bytes: int) -> Path | None:
        """A file inside the package: relative, no '..', no links, exists, not too large."""
        if not isinstance(value, str) or not value.strip():
            self.problem(file, field_, _("应为课程包内的相对文件路径"))
            return None
        rel = Path(value.strip())
        if rel.is_absolute() or ".." in rel.parts:
            self.problem(file, field_, _("路径“%(path)s”指向课程包之外，只允许包内的相对路径", path=value))
            return None
        candidate = self.root / rel
        current = self.root
        for part in rel.parts:
            current = current / part
            if current.is_symlink():
                self.problem(file, field_, _("路径“%(path)s”是符号链接，课程包内不允许链接", path=value))
                return None
        if not candidate.resolve().is_relative_to(self.root.resolve()):
            self.problem(file, field_, _("路径“%(path)s”指向课程包之外", path=value))
            return None
        if not candidate.is_file():
            self.problem(file, field_, _("文件“%(path)s”不存在", path=value))
            return None
        if candidate.stat().st_size > max_bytes:
            self.problem(file, field_, _("文件“%(path)s”过大（上限 %(kib)s KiB）", path=value, kib=max_bytes // 1024))
            return None
        return candidate

    def read_text(self, path: Path, file: str, field_: str) -> str:
        try:
            return path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            self.problem(file, field_, _("文件“%(name)s”不是 UTF-8 编码的文本", name=path.name))
            return ""

    def yaml(self, rel: str, field_: str = "") -> dict | None:
        path = self.root / rel
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            self.problem(rel, field_, _("文件不存在"))
            return None
        except UnicodeDecodeError:
            self.problem(rel, field_, _("不是 UTF-8 编码的文本"))
            return None
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = _("第 %(line)s 行第 %(column)s 列", line=mark.line + 1, column=mark.column + 1) if mark else ""
            self.problem(rel, field_, _("YAML 格式错误%(where)s：%(problem)s", where=where,
                                        problem=getattr(exc, "problem", None) or exc))
            return None
        if not isinstance(data, dict):
            self.problem(rel, field_, _("内容应为键值映射（mapping）"))
            return None
        return data


def load_package(root: Path, *, subjects: set[str]) -> CoursePackage:
    """Check a package folder completely: every problem found is reported at once (PackageError)."""
    root = Path(root)
    check = _Checker(root)
    if not root.is_dir():
        raise PackageError([Problem(str(root), "", _("不是课程包文件夹"))])
    data = check.yaml(COURSE_FILE)
    if data is None:
        raise PackageError(check.problems)
    check.unknown_keys(data, _COURSE_KEYS, COURSE_FILE)
    course = _CourseYaml(check, data, subjects)
    values = {}
    for read in _COURSE_FIELDS:
        values.update(read(course))
    if check.problems:
        raise PackageError(check.problems)
    return CoursePackage(root=root, **values)


@dataclass(frozen=True)
class _CourseYaml:
    """course.yaml being read: where its problems go, its mapping, and the subjects it may name."""

    check: _Checker
    data: dict
    subjects: set[str]

    def text(self, key: str, **kw) -> str:
        return self.check.text(self.data, key, COURSE_FILE, **kw)

    def problem(self, field_: str, message: str) -> None:
        self.check.problem(COURSE_FILE, field_, message)


def _code(course: _CourseYaml) -> dict:
    code = str(course.data.get("code") or "").strip()
    if not code:
        course.problem("code", _("缺少此字段"))
    elif not CODE_PATTERN.match(code):
        course.problem("code", _("课程编号“%(code)s”只能由大写字母、数字和连字符组成，3–32 位", code=code))
    elif code != course.check.root.name:
        course.problem("code", _("课程编号“%(code)s”应与文件夹名“%(folder)s”一致", code=code,
                                      folder=course.check.root.name))
    return {"code": code}


def _text_field(key: str, *, max_len: int):
    def read(course: _CourseYaml) -> dict:
        return {key: course.text(key, max_len=max_len)}

    return read


def _subject(course: _CourseYaml) -> dict:
    subject = course.text("subject")
    if subject and subject not in course.subjects:
        course.problem("subject", _("未知的科目主题“%(subject)s”，可选：%(choices)s", subject=subject,
                                    choices=_("、").join(sorted(course.subjects))))
    return {"subject": subject}


def _category(course: _CourseYaml) -> dict:
    category = course.text("category")
    if category and category not in CATEGORY_LABELS.values():
        course.problem("category", _("科目类别“%(category)s”无效，可选：公需、专业、选修", category=category))
    return {"category": category}


def _credit_hours(course: _CourseYaml) -> dict:
    hours = Decimal(0)
    raw_hours = course.data.get("credit_hours")
    try:
        hours = Decimal(str(raw_hours))
        if isinstance(raw_hours, bool) or not (Decimal("0.5") <= hours <= 20) or hours % Decimal("0.5"):
            raise InvalidOperation
    except (InvalidOperation, ValueError):
        course.problem("credit_hours", _("学时应为 0.5 的整数倍，范围 0.5–20") if raw_hours is not None else _("缺少此字段"))
    return {"credit_hours": hours}


def _publisher(course: _CourseYaml) -> dict:
    publisher = course.data.get("publisher")
    name, credit_code = "", None
    if not isinstance(publisher, dict):
        course.problem("publisher", _("应包含发布机构名称 name（及可选的 credit_code）"))
    else:
        course.check.unknown_keys(publisher, {"name", "credit_code"}, COURSE_FILE, "publisher.")
        name = course.check.text(publisher, "name", COURSE_FILE, prefix="publisher.", max_len=120)
        if publisher.get("credit_code"):
            try:
                credit_code = normalize_credit_code(str(publisher["credit_code"]))
            except IdentifierError as exc:
                course.problem("publisher.credit_code", str(exc))
    return {"publisher_name": name, "publisher_credit_code": credit_code}


def _tags(course: _CourseYaml) -> dict:
    tags = course.data.get("tags") or []
    if not isinstance(tags, list) or not all(isinstance(t, (str, int)) for t in tags):
        course.problem("tags", _("应为关键词列表"))
        tags = []
    return {"tags": [str(t).strip() for t in tags if str(t).strip()]}


def _exam(course: _CourseYaml) -> dict:
    """``exam:``: the pass score, the question pool (its own file) and how many one attempt draws."""
    values = {"pass_score": None, "questions": [], "exam_attempt_size": None}
    exam = course.data.get("exam")
    if exam is None:
        return values
    if not isinstance(exam, dict):
        course.problem("exam", _("应包含 questions（题库文件）与 pass_score（及格分），可选 attempt_size（每次抽题数）"))
        return values
    check = course.check
    check.unknown_keys(exam, _EXAM_KEYS, COURSE_FILE, "exam.")
    pass_score = exam.get("pass_score", 60)
    if isinstance(pass_score, bool) or not isinstance(pass_score, int) or not 0 <= pass_score <= 100:
        course.problem("exam.pass_score", _("及格分应为 0–100 的整数"))
        pass_score = None
    before = len(check.problems)
    quiz_path = check.path(exam.get("questions"), COURSE_FILE, "exam.questions", max_bytes=MAX_TEXT_BYTES)
    questions = [] if quiz_path is None else _load_questions(check, quiz_path.relative_to(check.root).as_posix())
    pool_known = quiz_path is not None and len(check.problems) == before
    attempt_size = _attempt_size(check, exam.get("attempt_size"), COURSE_FILE,
                                 pool=len(questions) if pool_known else 0)
    return {"pass_score": pass_score, "questions": questions, "exam_attempt_size": attempt_size}


def _chapters(course: _CourseYaml) -> dict:
    raw_chapters = course.data.get("chapters")
    if not isinstance(raw_chapters, list) or not raw_chapters:
        course.problem("chapters", _("至少需要一章，每章至少一个课时"))
        raw_chapters = []
    chapters = (_chapter(course.check, raw, f"chapters[{ci}].") for ci, raw in enumerate(raw_chapters))
    return {"chapters": [chapter for chapter in chapters if chapter is not None]}


def _chapter(check: _Checker, raw, prefix: str) -> ChapterSpec | None:
    if not isinstance(raw, dict):
        check.problem(COURSE_FILE, prefix[:-1], _("应包含 title 与 lessons"))
        return None
    check.unknown_keys(raw, {"title", "lessons"}, COURSE_FILE, prefix)
    title = check.text(raw, "title", COURSE_FILE, prefix=prefix, max_len=120)
    raw_lessons = raw.get("lessons")
    if not isinstance(raw_lessons, list) or not raw_lessons:
        check.problem(COURSE_FILE, prefix + "lessons", _("每章至少需要一个课时"))
        raw_lessons = []
    lessons = []
    for li, lesson in enumerate(raw_lessons):
        lp = f"{prefix}lessons[{li}]."
        if not isinstance(lesson, dict):
            check.problem(COURSE_FILE, lp[:-1], _("应包含 title 与 kind"))
            continue
        lessons.append(_lesson(check, lesson, COURSE_FILE, lp))
    return ChapterSpec(title=title, lessons=[x for x in lessons if x])


# course.yaml field by field, in the order its problems are reported; each reader checks its
# field and returns the CoursePackage values it gives.
_COURSE_FIELDS = (
    _code, _text_field("title", max_len=120), _subject, _category, _credit_hours, _publisher,
    _text_field("summary", max_len=500), _text_field("syllabus", max_len=20000), _tags, _exam, _chapters,
)


def _attempt_size(check: _Checker, value, f: str, *, pool: int) -> int | None:
    """``exam.attempt_size``: how many of the pool's questions one attempt draws (absent: all of them).

    ``pool`` is 0 when the question file has problems of its own (reported already): the size of the
    pool is not known then, so only the lower bound is checked.
    """
    if value is None:
        return None
    upper = _("至多为题库题数（%(pool)s 题）", pool=pool) if pool else _("至多为题库题数")
    if isinstance(value, bool) or not isinstance(value, int):
        check.problem(f, "exam.attempt_size", _("每次测验的抽题数应为整数，至少 %(min)s 题，%(upper)s", min=MIN_QUESTIONS,
                                                upper=upper))
    elif value < MIN_QUESTIONS:
        check.problem(f, "exam.attempt_size", _("每次测验的抽题数至少为 %(min)s 题（现为 %(n)s 题）", min=MIN_QUESTIONS,
                                                n=value))
    elif pool and value > pool:
        check.problem(f, "exam.attempt_size", _("每次测验的抽题数（%(n)s 题）不能多于题库题数（%(pool)s 题）", n=value,
                                                pool=pool))
    else:
        return value
    return None


def exam_section(course) -> dict:
    """The ``exam:`` mapping of course.yaml for ``course`` (a catalog Course with an exam), as an
    export writes it, so that importing the export gives the same exam settings back."""
    section = {"questions": "quiz.yaml", "pass_score": course.pass_score}
    if course.exam_attempt_size is not None:
        section["attempt_size"] = course.exam_attempt_size
    return section


def _lesson(check: _Checker, lesson: dict, f: str, lp: str) -> LessonSpec | None:
    check.unknown_keys(lesson, _LESSON_KEYS, f, lp)
    title = check.text(lesson, "title", f, prefix=lp, max_len=120)
    kind = lesson.get("kind")
    if kind not in LESSON_KINDS:
        check.problem(f, lp + "kind", _("课时类型应为 video（视频）或 reading（图文）"))
        return None
    body = ""
    if lesson.get("text") is not None or kind == "reading":
        text_path = check.path(lesson.get("text"), f, lp + "text", max_bytes=MAX_TEXT_BYTES)
        if text_path is not None:
            body = check.read_text(text_path, f, lp + "text")
    video = None
    if lesson.get("video") is not None:
        if kind != "video":
            check.problem(f, lp + "video", _("只有视频课时可以指定视频文件"))
        video = check.path(lesson.get("video"), f, lp + "video", max_bytes=MAX_VIDEO_BYTES)
        if video is not None and video.suffix.lower() not in VIDEO_TYPES:
            check.problem(f, lp + "video", _("“%(name)s”不是支持的视频格式（MP4、MOV、MKV、WebM）", name=video.name))
            video = None
    demo_seconds = lesson.get("demo_seconds", 30)
    if isinstance(demo_seconds, bool) or not isinstance(demo_seconds, int) or not 5 <= demo_seconds <= 7200:
        check.problem(f, lp + "demo_seconds", _("演示视频时长应为 5–7200 的整数（秒）"))
        demo_seconds = 30
    return LessonSpec(title=title, kind=kind, body=body, video=video, demo_seconds=demo_seconds)


def _load_questions(check: _Checker, rel: str) -> list[QuestionSpec]:
    data = check.yaml(rel)
    if data is None:
        return []
    check.unknown_keys(data, {"questions"}, rel)
    raw = data.get("questions")
    if not isinstance(raw, list) or len(raw) < MIN_QUESTIONS:
        check.problem(rel, "questions", _("题库至少需要 %(min)s 道题", min=MIN_QUESTIONS))
        return []
    questions = (_question(check, rel, q, f"questions[{qi}].") for qi, q in enumerate(raw))
    return [question for question in questions if question is not None]


def _question(check: _Checker, rel: str, q, qp: str) -> QuestionSpec | None:
    if not isinstance(q, dict):
        check.problem(rel, qp[:-1], _("应包含 type、text、answer"))
        return None
    check.unknown_keys(q, _QUESTION_KEYS, rel, qp)
    kind = q.get("type")
    text = check.text(q, "text", rel, prefix=qp, max_len=1000)
    explanation = check.text(q, "explanation", rel, prefix=qp, required=False, max_len=2000)
    if kind not in QUESTION_KINDS:
        check.problem(rel, qp + "type", _("题型应为 single（单选）、multiple（多选）或 truefalse（判断）"))
        return None
    read_answer = _true_or_false if kind == "truefalse" else _choices
    options_and_answer = read_answer(check, rel, q, qp)
    if options_and_answer is None:
        return None
    options, answer = options_and_answer
    return QuestionSpec(kind=kind, text=text, options=options, answer=answer, explanation=explanation)


def _true_or_false(check: _Checker, rel: str, q: dict, qp: str) -> tuple[list[str], str] | None:
    """A true/false question: no options, the answer stored as "true" or "false"."""
    if not isinstance(q.get("answer"), bool):
        check.problem(rel, qp + "answer", _("判断题答案应为 true 或 false"))
        return None
    if q.get("options"):
        check.problem(rel, qp + "options", _("判断题不需要选项"))
    return [], "true" if q["answer"] else "false"


def _choices(check: _Checker, rel: str, q: dict, qp: str) -> tuple[list[str], str] | None:
    """A single or multiple choice question: 2–6 options, the answer as their letters in order ("AC")."""
    options = q.get("options")
    if not isinstance(options, list) or not 2 <= len(options) <= 6 \
            or not all(isinstance(o, (str, int, float)) and str(o).strip() for o in options):
        check.problem(rel, qp + "options", _("选择题需要 2–6 个非空选项"))
        return None
    letters = "ABCDEF"[: len(options)]
    answer = str(q.get("answer") or "").strip().upper()
    if not answer or any(c not in letters for c in answer) or len(set(answer)) != len(answer):
        check.problem(rel, qp + "answer", _("答案应为选项字母（%(first)s–%(last)s）", first=letters[0], last=letters[-1]))
        return None
    if q["type"] == "single" and len(answer) != 1:
        check.problem(rel, qp + "answer", _("单选题只能有一个正确答案"))
        return None
    if q["type"] == "multiple" and len(answer) < 2:
        check.problem(rel, qp + "answer", _("多选题应有两个及以上正确答案"))
        return None
    return [str(o).strip() for o in options], "".join(sorted(answer))


def find_package_dirs(paths: list[Path]) -> list[Path]:
    """Each path is a package (has course.yaml) or a folder of packages."""
    found = []
    for path in map(Path, paths):
        if (path / "course.yaml").exists() or not path.is_dir():
            found.append(path)
        else:
            found.extend(sorted(p.parent for p in path.glob("*/course.yaml")))
    return found
