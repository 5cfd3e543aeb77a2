"""Course packages as zip files: written from a course, and unpacked safely from an upload.

Unpacking refuses what a hostile archive could do: paths outside the folder, links, too many
files, a compression ratio no course package has (per entry and for the whole archive), and more
data than allowed (declared in the headers, and counted again while extracting).
"""

import errno
import lzma
import shutil
import stat
import zipfile
import zlib
from pathlib import Path, PurePosixPath

import yaml
from flask_babel import gettext as _

from ..assessment.models import QuizQuestion
from ..core.errors import InvalidInput
from ..core.formatting import format_hours
from ..core.storage import BLOCK, media_storage
from ..extensions import db
from .models import Category, Course
from .packages import exam_section

MAX_ENTRIES = 2000
MAX_RATIO = 200  # compressed → uncompressed; a higher ratio on a large entry is a zip bomb
MAX_TOTAL_RATIO = 50  # the whole archive: its size on disk → everything it may unpack to
MIN_CAP = 4 * 1024 * 1024  # small archives may always unpack to this much (a few text files)
SUPPORTED_METHODS = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA}


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
                key = asset.mp4_path or asset.path
                name = f"media/{ci:02d}-{li:02d}{Path(key).suffix}"
                (root / "media").mkdir(exist_ok=True)
                with media_storage().open(key) as source, open(root / name, "wb") as out:
                    shutil.copyfileobj(source, out, BLOCK)
                entry["video"] = name
            lessons.append(entry)
        chapters.append({"title": chapter.title, "lessons": lessons})
    data = {
        "code": course.code, "title": course.title, "subject": course.subject.name,
        "category": Category(course.category).source_label, "credit_hours": float(format_hours(course.credit_hours)),
        "publisher": {"name": course.publisher.name,
                      **({"credit_code": course.publisher.credit_code} if course.publisher.credit_code else {})},
        "summary": course.summary, "syllabus": course.syllabus, "tags": list(course.tags or []),
        "chapters": chapters,
    }
    questions = db.session.scalars(db.select(QuizQuestion).where(QuizQuestion.course_id == course.id)
                                   .order_by(QuizQuestion.position)).all()
    if course.pass_score is not None:
        data["exam"] = exam_section(course)
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


def extraction_cap(archive_size: int, max_bytes: int) -> int:
    """How much an archive of ``archive_size`` bytes may unpack to: in proportion to its size (honest
    packages are video and text, about 1–3 : 1), never more than ``max_bytes``."""
    return min(max_bytes, max(MIN_CAP, archive_size * MAX_TOTAL_RATIO))


def _mb(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB" if size < 10 * 1024 * 1024 else f"{size // (1024 * 1024)} MB"


def unpack(archive_path: Path, dest: Path, *, max_bytes: int) -> Path:
    """Extract a package archive into ``dest`` after checking every entry; returns ``dest``.

    Everything the headers declare is checked before the first byte is written: paths, links,
    encryption, the number of entries, each large entry's compression ratio, and the declared total
    against ``extraction_cap`` (a zip bomb made of many small entries passes the per-entry check but
    not this one). Headers can lie, so while extracting the bytes really written are counted too:
    no entry may grow past its declared size, nor the whole past the cap. If anything fails,
    what was written is removed again."""
    try:
        archive = zipfile.ZipFile(archive_path)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        raise InvalidInput(_("上传的文件不是有效的 zip 课程包。")) from None
    with archive:
        entries = archive.infolist()
        archive_size = Path(archive_path).stat().st_size
        cap = extraction_cap(archive_size, max_bytes)
        _check_entries(entries, cap=cap, max_bytes=max_bytes, archive_size=archive_size)
        existed = dest.exists()
        before = set(dest.iterdir()) if existed else set()
        try:
            _extract(archive, entries, dest, cap=cap, max_bytes=max_bytes)
        except BaseException:
            for path in (sorted(set(dest.iterdir()) - before) if existed else [dest]):
                if path.is_symlink() or path.is_file():
                    path.unlink()
                elif path.is_dir():
                    shutil.rmtree(path, ignore_errors=True)
            raise
    return dest


def _check_entries(entries, *, cap: int, max_bytes: int, archive_size: int) -> None:
    if len(entries) > MAX_ENTRIES:
        raise InvalidInput(_("课程包内文件过多（%(n)s 个，上限 %(limit)s 个）。", n=len(entries), limit=MAX_ENTRIES))
    total = 0
    for info in entries:
        name = info.filename
        parts = PurePosixPath(name).parts
        if name.startswith(("/", "\\")) or "\\" in name or ".." in parts or (parts and ":" in parts[0]):
            raise InvalidInput(_("课程包含有指向包外的路径“%(name)s”，已拒绝。", name=name))
        if stat.S_ISLNK(info.external_attr >> 16):
            raise InvalidInput(_("课程包含有链接“%(name)s”，课程包内不允许链接。", name=name))
        if info.flag_bits & 0x1:
            raise InvalidInput(_("课程包中“%(name)s”已加密，无法导入。请导出不加密的 zip 课程包后再上传。", name=name))
        if info.compress_type not in SUPPORTED_METHODS:
            raise InvalidInput(_("课程包中“%(name)s”使用了不支持的压缩方式，请用常见的 zip（Deflate）格式重新打包。",
                                 name=name))
        if info.file_size > 1024 * 1024 and info.compress_size and info.file_size / info.compress_size > MAX_RATIO:
            raise InvalidInput(_("课程包中“%(name)s”的压缩比异常（疑似压缩炸弹），已拒绝。", name=name))
        total += info.file_size
    if total > max_bytes:
        raise InvalidInput(_("课程包解压后超过大小上限 %(mb)s MB。", mb=max_bytes // (1024 * 1024)))
    if total > cap:
        raise InvalidInput(_(
            "课程包的压缩比异常（疑似压缩炸弹）：%(size)s 的压缩包声称解压后有 %(total)s，"
            "超过其大小的 %(ratio)s 倍，已拒绝，未解压任何文件。正常的课程包（视频、文本）解压后约为压缩包的 1–3 倍；"
            "请检查课程包内容后重新打包。", size=_mb(archive_size), total=_mb(total), ratio=MAX_TOTAL_RATIO))


def _blocks(archive: zipfile.ZipFile, info: zipfile.ZipInfo):
    """The entry's data in blocks; a corrupt entry is an InvalidInput, whatever the codec raises."""
    try:
        with archive.open(info) as source:
            while block := source.read(1 << 20):
                yield block
    except (zipfile.BadZipFile, zlib.error, lzma.LZMAError, EOFError, NotImplementedError, RuntimeError,
            OSError):  # bz2 reports bad data as OSError
        raise InvalidInput(_("课程包已损坏：“%(name)s”无法解压（数据或校验码不符）。请重新导出课程包后再上传。",
                             name=info.filename)) from None


def _extract(archive: zipfile.ZipFile, entries, dest: Path, *, cap: int, max_bytes: int) -> None:
    if cap < max_bytes:
        too_much = InvalidInput(_("课程包解压出的数据超过了压缩包大小的 %(ratio)s 倍（上限 %(cap)s），"
                                  "与包内声明不符，疑似压缩炸弹，已停止解压。", ratio=MAX_TOTAL_RATIO, cap=_mb(cap)))
    else:
        too_much = InvalidInput(_("课程包解压后超过大小上限 %(mb)s MB，已停止解压。", mb=max_bytes // (1024 * 1024)))
    written = 0
    for info in entries:
        target = dest / info.filename
        try:
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            entry_written = 0
            with open(target, "wb") as out:
                for block in _blocks(archive, info):
                    entry_written += len(block)
                    written += len(block)
                    if entry_written > info.file_size:  # the header lied about this entry
                        raise InvalidInput(_("课程包中“%(name)s”的实际大小与声明不符，已停止解压。"
                                             "请重新导出课程包后再上传。", name=info.filename))
                    if written > cap:
                        raise too_much
                    out.write(block)
        except (FileExistsError, IsADirectoryError, NotADirectoryError):
            raise InvalidInput(_("课程包的文件结构有冲突：“%(name)s”与包内另一个同名的文件或文件夹重复。",
                                 name=info.filename)) from None
        except OSError as exc:
            if exc.errno != errno.ENAMETOOLONG:
                raise
            raise InvalidInput(_("课程包中的文件名过长：“%(name)s…”。", name=info.filename[:60])) from None
