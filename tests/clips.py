"""Small media files made with the real ffmpeg, for upload and transcoding tests."""

import subprocess
from pathlib import Path


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", *args], check=True)


def make_clips(folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    clips = {
        "video": folder / "lecture.mp4",          # 4 s, 320x240, H.264 + AAC
        "no_audio": folder / "silent.mov",        # 3 s, video only, another container
        "audio_only": folder / "talk.mp4",        # sound, no picture
        "not_video": folder / "notes.mp4",        # text renamed .mp4
        "truncated": folder / "broken.mp4",       # the first part of a real video
        "srt": folder / "captions.srt",
    }
    _ffmpeg("-f", "lavfi", "-i", "testsrc=size=320x240:rate=15:duration=4", "-f", "lavfi",
            "-i", "sine=frequency=440:duration=4", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
            "-c:a", "aac", "-shortest", str(clips["video"]))
    _ffmpeg("-f", "lavfi", "-i", "testsrc=size=320x240:rate=15:duration=3", "-c:v", "libx264", "-preset",
            "ultrafast", "-pix_fmt", "yuv420p", str(clips["no_audio"]))
    _ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:duration=3", "-c:a", "aac", str(clips["audio_only"]))
    clips["not_video"].write_text("这不是视频，只是改了扩展名的文本文件。\n" * 50, encoding="utf-8")
    data = clips["video"].read_bytes()
    clips["truncated"].write_bytes(data[: len(data) // 3])
    clips["srt"].write_text("1\n00:00:00,000 --> 00:00:02,000\n欢迎学习本课程。\n\n2\n00:00:02,000 --> 00:00:04,000\n"
                            "请注意网络安全。\n", encoding="utf-8")
    return clips


def make_lecture(path: Path, seconds: int) -> Path:
    """A 640x360 H.264 + AAC lecture of ``seconds``, long enough to watch a transcode's progress."""
    path.parent.mkdir(parents=True, exist_ok=True)
    _ffmpeg("-f", "lavfi", "-i", f"testsrc=size=640x360:rate=25:duration={seconds}", "-f", "lavfi",
            "-i", f"sine=duration={seconds}", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-shortest",
            str(path))
    return path


def pad_with_free_box(source: Path, target: Path, total_bytes: int) -> Path:
    """``source`` (an MP4) followed by one top-level ``free`` box, so the file is ``total_bytes`` long
    and still a valid MP4 (players and ffprobe skip ``free`` boxes).

    The box is written as its 8-byte header and a ``truncate`` to the full length: the padding is a
    hole in a sparse file, so even a multi-gigabyte clip costs no time and almost no disk. Boxes of
    4 GiB and more use the 64-bit ``largesize`` header (size field 1).
    """
    import struct

    data = source.read_bytes()
    padding = total_bytes - len(data)
    if padding < 16:
        raise ValueError("total_bytes must exceed the clip by at least 16 bytes")
    header = struct.pack(">I4s", padding, b"free") if padding < 2**32 else struct.pack(">I4sQ", 1, b"free", padding)
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "wb") as out:
        out.write(data)
        out.write(header)
        out.truncate(total_bytes)
    return target
