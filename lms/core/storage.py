"""Local media storage: every stored path is relative to LMS_MEDIA_ROOT."""

from pathlib import Path

from flask import current_app


def media_root() -> Path:
    root = Path(current_app.config["LMS_MEDIA_ROOT"])
    root.mkdir(parents=True, exist_ok=True)
    return root


def media_path(relative: str) -> Path:
    """Absolute path of a stored file; refuses anything that escapes the media root."""
    root = media_root().resolve()
    path = (root / relative).resolve()
    if not path.is_relative_to(root):
        raise ValueError(f"path outside media root: {relative}")
    return path
