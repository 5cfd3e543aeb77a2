"""Links handed out are built from the platform's public address (LMS_PUBLIC_URL), never from the
request's Host header; `make run` sets that address from the host and port it serves."""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_no_view_builds_a_link_from_the_host_header():
    """url_for(..., _external=True) takes the host from the request: use core.web.public_url."""
    found = [f"{path.relative_to(ROOT)}:{n}" for path in sorted((ROOT / "lms").rglob("*.py"))
             for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
             if re.search(r"_external\s*=\s*True", line) and not line.lstrip().startswith(("#", "exports", "which"))]
    found += [str(path.relative_to(ROOT)) for path in sorted((ROOT / "templates").rglob("*.html"))
              if re.search(r"_external\s*=\s*True|request\.(host_url|url_root|host)\b", path.read_text(encoding="utf-8"))]
    assert found == []


def test_a_forged_host_header_does_not_reach_the_links(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "LMS_PUBLIC_URL", "https://lms.example.gov.cn/")
    headers = {"Host": "attacker.example", "X-Forwarded-Host": "attacker.example"}
    hits = client.get("/api/v1/search?q=AI 伦理", headers=headers).get_json()["hits"]
    assert hits and hits[0]["url"] == "https://lms.example.gov.cn/courses/GX-DT-002"
    spec = client.get("/api/v1/openapi.json", headers=headers).get_json()
    assert spec["servers"][0]["url"] == "https://lms.example.gov.cn/api/v1"
    assert "attacker" not in str(hits) + str(spec)


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
@pytest.mark.parametrize(("args", "env_url", "expected"), [
    (["PORT=5077"], None, "http://127.0.0.1:5077"),
    (["HOST=0.0.0.0", "PORT=8080"], None, "http://127.0.0.1:8080"),
    (["HOST=10.1.2.3"], None, "http://10.1.2.3:5000"),
    (["PORT=5077"], "https://lms.example.gov.cn", "https://lms.example.gov.cn"),
])
def test_make_run_serves_with_the_public_address_of_its_host_and_port(args, env_url, expected):
    env = {k: v for k, v in os.environ.items() if k not in ("LMS_PUBLIC_URL", "MAKEFLAGS", "MAKELEVEL")}
    if env_url:
        env["LMS_PUBLIC_URL"] = env_url
    dry = subprocess.run(["make", "-n", "-o", ".venv/.installed-run", "-o", "system-deps", "run", *args],
                         cwd=ROOT, env=env, capture_output=True, text=True, check=True).stdout
    served = [line for line in dry.splitlines() if "flask run" in line or "huey_consumer" in line]
    assert served and all(f"LMS_PUBLIC_URL={expected} " in line for line in served), dry
