"""Course packages as zip files: written from a course, and unpacked safely from an upload.

Unpacking refuses what a hostile archive could do: paths outside the folder, links, too many
files, and more data than allowed (counted while extracting, not taken from the headers).
"""

import shutil
import stat
import zipfile
from pathlib import Path, PurePosixPath

import yaml

from ..assessment.models import QuizQuestion
from ..core.errors import InvalidInput
from ..core.formatting import format_hours
from ..core.storage import media_path
from ..extensions import db
from .models import Category, Course

MAX_ENTRIES = 2000
MAX_RATIO = 200  # compressed → uncompressed; a higher ratio on a large entry is a zip bomb


def export_package(course: Course, folder: Path) -> Path:
    """Write ``course`` as a package folder (the format of courses/README.md); returns its path."""
    root = folder / course.code
    (root / "lessons").mkdir(parents=True)
    chapters = []
    for ci, chapter in enumerate(course.chapters, start=1):
        lessons = []
        for li, lesson in enumerate(chapter.lessons, start=1):
            entry = {"title": lesson.title, "kind": lesson.kind}
            if lesson.body:
                name = f"lessons/{ci:02d}-{li:02d}.md"
                (root / name).write_text(lesson.body, encoding="utf-8")
                entry["text"] = name
            asset = lesson.media_asset
            if asset is not None:
                source = media_path(asset.mp4_path or asset.path)
                name = f"media/{ci:02d}-{li:02d}{source.suffix}"
                (root / "media").mkdir(exist_ok=True)
                shutil.copyfile(source, root / name)
                entry["video"] = name
            lessons.append(entry)
        chapters.append({"title": chapter.title, "lessons": lessons})
    data = {
        "code": course.code, "title": course.title, "subject": course.subject.name,
        "category": Category(course.category).label, "credit_hours": float(format_hours(course.credit_hours)),
        "publisher": {"name": course.publisher.name,
                      **({"credit_code": course.publisher.credit_code} if course.publisher.credit_code else {})},
        "summary": course.summary, "syllabus": course.syllabus, "tags": list(course.tags or []),
        "chapters": chapters,
    }
    questions = db.session.scalars(db.select(QuizQuestion).where(QuizQuestion.course_id == course.id)
                                   .order_by(QuizQuestion.position)).all()
    if course.pass_score is not None:
        data["exam"] = {"questions": "quiz.yaml", "pass_score": course.pass_score}
        quiz = [{"type": q.kind, "text": q.text,
                 **({"options": list(q.options)} if q.kind != "truefalse" else {}),
                 "answer": (q.answer == "true") if q.kind == "truefalse" else q.answer,
                 **({"explanation": q.explanation} if q.explanation else {})} for q in questions]
        (root / "quiz.yaml").write_text(yaml.safe_dump({"questions": quiz}, allow_unicode=True, sort_keys=False),
                                        encoding="utf-8")
    (root / "course.yaml").write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return root


def zip_folder(root: Path, target: Path) -> Path:
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(root.rglob("*")):
            if path.is_file():
                archive.write(path, PurePosixPath(root.name, path.relative_to(root).as_posix()).as_posix())
    return target


def unpack(archive_path: Path, dest: Path, *, max_bytes: int) -> Path:
    """Extract a package archive into ``dest`` after checking every entry; returns ``dest``."""
    try:
        archive = zipfile.ZipFile(archive_path)
    except (zipfile.BadZipFile, OSError):
        raise InvalidInput("上传的文件不是有效的 zip 课程包。") from None
    with archive:
        entries = archive.infolist()
        if len(entries) > MAX_ENTRIES:
            raise InvalidInput(f"课程包内文件过多（{len(entries)} 个，上限 {MAX_ENTRIES} 个）。")
        total = 0
        for info in entries:
            name = info.filename
            parts = PurePosixPath(name).parts
            if name.startswith(("/", "\\")) or "\\" in name or ".." in parts or (parts and ":" in parts[0]):
                raise InvalidInput(f"课程包含有指向包外的路径“{name}”，已拒绝。")
            if stat.S_ISLNK(info.external_attr >> 16):
                raise InvalidInput(f"课程包含有链接“{name}”，课程包内不允许链接。")
            if info.file_size > 1024 * 1024 and info.compress_size and info.file_size / info.compress_size > MAX_RATIO:
                raise InvalidInput(f"课程包中“{name}”的压缩比异常（疑似压缩炸弹），已拒绝。")
            total += info.file_size
            if total > max_bytes:
                raise InvalidInput(f"课程包解压后超过大小上限 {max_bytes // (1024 * 1024)} MB。")
        written = 0
        for info in entries:
            target = dest / info.filename
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(info) as source, open(target, "wb") as out:
                for block in iter(lambda: source.read(1 << 20), b""):
                    written += len(block)
                    if written > max_bytes:  # the headers lied
                        raise InvalidInput(f"课程包解压后超过大小上限 {max_bytes // (1024 * 1024)} MB。")
                    out.write(block)
    return dest
