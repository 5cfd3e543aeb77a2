"""The HTTP calls static/js/publisher.js makes to upload a file in parts, for tests."""

import os
from pathlib import Path

from lms.core.storage import media_root


class PartUploader:
    """Create, send parts, ask the offset, finish, cancel: exactly the page's requests."""

    def __init__(self, client, token: str):
        self.client, self.headers = client, {"X-CSRFToken": token, "Accept": "application/json"}

    def create(self, path: Path, *, kind="media", name=None, size=None, organization_id=None):
        body = {"kind": kind, "filename": name or path.name, "size": size if size is not None else os.path.getsize(path)}
        if organization_id is not None:
            body["organization_id"] = organization_id
        return self.client.post("/publish/uploads", json=body, headers=self.headers)

    def part(self, url: str, offset: int, data: bytes, **extra_headers):
        return self.client.patch(url, data=data, headers={**self.headers, "Upload-Offset": str(offset),
                                                          "Content-Type": "application/offset+octet-stream",
                                                          **extra_headers})

    def offset(self, url: str) -> int:
        response = self.client.get(url, headers=self.headers)
        assert response.status_code == 200, response.get_data(as_text=True)
        assert int(response.headers["Upload-Offset"]) == response.get_json()["upload"]["offset"]
        return response.get_json()["upload"]["offset"]

    def send(self, url: str, path: Path, *, part_size: int, start: int = 0, stop_after: int | None = None) -> int:
        """Send the parts from ``start``; stop after ``stop_after`` parts (a cut). Returns the offset."""
        offset, sent = start, 0
        size = os.path.getsize(path)
        with open(path, "rb") as fh:
            fh.seek(offset)
            while offset < size and (stop_after is None or sent < stop_after):
                response = self.part(url, offset, fh.read(part_size))
                assert response.status_code == 200, response.get_data(as_text=True)
                offset = response.get_json()["upload"]["offset"]
                sent += 1
        return offset

    def finish(self, url: str):
        return self.client.post(url + "/finish", headers=self.headers)

    def cancel(self, url: str):
        return self.client.delete(url, headers=self.headers)


def files_under_uploads(app) -> list[str]:
    with app.app_context():
        folder = media_root() / "uploads"
        return sorted(p.name for p in folder.iterdir()) if folder.exists() else []
