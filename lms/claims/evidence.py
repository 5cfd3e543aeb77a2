"""Evidence files of a claim: at most :data:`MAX_FILES` PDF, JPEG or PNG files of :data:`MAX_BYTES`
each, checked and stored by :mod:`lms.core.attachments` under ``claims/<learner>/``."""

from ..core.attachments import StoredFile, Upload, discard_on_rollback, store_all

MAX_BYTES = 5 * 1024 * 1024
MAX_FILES = 3
FOLDER = "claims"

__all__ = ["MAX_BYTES", "MAX_FILES", "StoredFile", "Upload", "discard_on_rollback", "store"]


def store(uploads: list[Upload], owner_id: int) -> list[StoredFile]:
    """Check and store a claim's files under ``claims/<owner>/``: all of them, or none when one is refused."""
    return store_all(uploads, f"{FOLDER}/{owner_id}", limit=MAX_BYTES, field="evidence")
