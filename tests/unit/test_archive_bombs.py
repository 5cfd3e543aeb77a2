"""Zip bombs and lying headers: refused before anything is written, or stopped while extracting with
nothing left behind; honest packages (the shipped demo courses, exported and imported again) pass."""

import io
import struct
import tempfile
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import select

from lms.catalog import archives
from lms.catalog.archives import unpack
from lms.catalog.models import Course
from lms.catalog.services import export_archive, import_archive, import_packages, load_packages
from lms.core.errors import InvalidInput
from tests.conftest import ROOT
from tests.unit.test_archives import snapshot

pytestmark = pytest.mark.usefixtures("ctx")
MB = 1024 * 1024
PACKAGE_MAX = 2048 * MB  # the default LMS_PACKAGE_MAX_MB


def zip_bytes(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def the_reported_bomb() -> bytes:
    """300 entries of a little under 1 MiB of zeros: each below the per-entry ratio check's size."""
    return zip_bytes({f"pkg/lessons/{n:03d}.md": bytes(1000 * 1000) for n in range(300)})


def test_many_small_entries_of_zeros_are_refused_before_anything_is_written(tmp_path):
    data = the_reported_bomb()
    assert len(data) < 400 * 1024
    archive = tmp_path / "bomb.zip"
    archive.write_bytes(data)
    dest = tmp_path / "out"
    with pytest.raises(InvalidInput, match="压缩比异常（疑似压缩炸弹）") as info:
        unpack(archive, dest, max_bytes=PACKAGE_MAX)
    assert "未解压任何文件" in info.value.message
    assert not dest.exists()


def test_the_ratio_check_comes_before_the_first_write(tmp_path):
    # dest cannot be created (its parent is a file): had unpack written anything before refusing, the
    # error would be a different one.
    archive = tmp_path / "bomb.zip"
    archive.write_bytes(the_reported_bomb())
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    with pytest.raises(InvalidInput, match="疑似压缩炸弹"):
        unpack(archive, blocker / "out", max_bytes=PACKAGE_MAX)


def test_the_cap_follows_the_archive_size_not_only_the_package_limit():
    assert archives.extraction_cap(344 * 1024, PACKAGE_MAX) == 344 * 1024 * archives.MAX_TOTAL_RATIO
    assert archives.extraction_cap(10 * 1024, PACKAGE_MAX) == archives.MIN_CAP
    assert archives.extraction_cap(1024 * MB, 100 * MB) == 100 * MB


def test_a_bomb_through_the_import_service_leaves_no_scratch_files(db_session, tmp_path, monkeypatch):
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))  # where import_archive unpacks
    archive = tmp_path / "bomb.zip"
    archive.write_bytes(the_reported_bomb())
    before = db_session.scalar(select(Course.id).order_by(Course.id.desc()).limit(1))
    with pytest.raises(InvalidInput, match="疑似压缩炸弹"):
        import_archive(None, archive, max_bytes=PACKAGE_MAX)
    assert not any(scratch.iterdir())
    assert db_session.scalar(select(Course.id).order_by(Course.id.desc()).limit(1)) == before


def lie_about_size(data: bytes, name: str, declared: int) -> bytes:
    """The zip with ``name``'s uncompressed size in both headers replaced by ``declared``."""
    out = bytearray(data)
    encoded = name.encode()
    for signature, size_at, name_len_at, name_at in ((b"PK\x03\x04", 22, 26, 30), (b"PK\x01\x02", 24, 28, 46)):
        start = 0
        while (start := out.find(signature, start)) != -1:
            length = struct.unpack_from("<H", out, start + name_len_at)[0]
            if bytes(out[start + name_at:start + name_at + length]) == encoded:
                struct.pack_into("<I", out, start + size_at, declared)
            start += 4
    return bytes(out)


def test_an_entry_larger_than_its_header_says_is_stopped_and_removed(tmp_path):
    honest = zip_bytes({"pkg/course.yaml": b"code: X\n", "pkg/media/a.bin": bytes(3 * MB)})
    archive = tmp_path / "liar.zip"
    archive.write_bytes(lie_about_size(honest, "pkg/media/a.bin", 1000))  # a ratio that looks harmless
    assert zipfile.ZipFile(archive).getinfo("pkg/media/a.bin").file_size == 1000
    dest = tmp_path / "out"
    dest.mkdir()
    with pytest.raises(InvalidInput, match="pkg/media/a.bin") as info:
        unpack(archive, dest, max_bytes=PACKAGE_MAX)
    assert "请重新导出课程包" in info.value.message
    assert not any(dest.iterdir())  # pkg/course.yaml, written first, is gone again


@pytest.mark.parametrize("flag, method, reason", [(0x1, None, "已加密"), (0, 99, "不支持的压缩方式")])
def test_encrypted_or_unknown_entries_are_refused_with_a_message(tmp_path, flag, method, reason):
    data = bytearray(zip_bytes({"pkg/course.yaml": b"code: X\n"}))
    central = data.find(b"PK\x01\x02")
    struct.pack_into("<H", data, central + 8, struct.unpack_from("<H", data, central + 8)[0] | flag)
    if method is not None:
        struct.pack_into("<H", data, central + 10, method)
    archive = tmp_path / "odd.zip"
    archive.write_bytes(bytes(data))
    dest = tmp_path / "out"
    with pytest.raises(InvalidInput, match=reason):
        unpack(archive, dest, max_bytes=PACKAGE_MAX)
    assert not dest.exists()


def test_a_file_and_a_folder_of_the_same_name_is_a_message_not_a_crash(tmp_path):
    archive = tmp_path / "clash.zip"
    archive.write_bytes(zip_bytes({"pkg/lessons": b"x", "pkg/lessons/01.md": b"# x"}))
    dest = tmp_path / "out"
    with pytest.raises(InvalidInput, match="文件结构有冲突"):
        unpack(archive, dest, max_bytes=PACKAGE_MAX)
    assert not dest.exists()


def test_every_shipped_demo_course_survives_export_and_import(db_session, tmp_path):
    dirs = sorted(p.parent for p in (ROOT / "courses").glob("*/course.yaml"))
    assert len(dirs) == 8
    import_packages(None, load_packages(dirs), skip_existing=True)
    db_session.flush()
    for path in dirs:
        course = db_session.scalar(select(Course).where(Course.code == path.name))
        before = snapshot(db_session, course)
        archive = export_archive(course, tmp_path / f"{path.name}.zip")
        db_session.delete(course)
        db_session.flush()
        [imported] = import_archive(None, archive, max_bytes=PACKAGE_MAX, publish=True).imported
        assert snapshot(db_session, imported) == before, path.name


def test_a_small_honest_text_package_unpacks(tmp_path):
    archive = tmp_path / "text.zip"
    body = "".join(f"## 第{n}节\n\n数据安全与个人信息保护的基本要求。\n\n" for n in range(400)).encode()
    archive.write_bytes(zip_bytes({"pkg/course.yaml": b"code: X\n", "pkg/lessons/01.md": body}))
    dest = unpack(archive, tmp_path / "out", max_bytes=PACKAGE_MAX)
    assert (dest / "pkg/lessons/01.md").read_bytes() == body
    assert isinstance(dest, Path)
