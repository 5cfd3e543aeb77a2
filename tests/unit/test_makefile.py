"""The Makefile installs per purpose: `make run` the runtime dependencies only, `make test` the test
extras on top, each behind a stamp of its own so a fresh clone still gets everything it needs."""
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def dry_run(*targets):
    """What make would do for the targets on a fresh clone (-B: no stamp counts as done)."""
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL")}
    return subprocess.run(["make", "-n", "-B", "-o", "system-deps", "-o", "browser-deps", *targets],
                          cwd=ROOT, env=env, capture_output=True, text=True, check=True).stdout


def installs(dry):
    return [line for line in dry.splitlines() if "pip install" in line and "--upgrade pip" not in line]


def test_make_run_installs_the_runtime_dependencies_only():
    dry = dry_run("run")
    assert installs(dry) == [".venv/bin/python -m pip install --quiet -e ."], dry
    assert "touch .venv/.installed-run" in dry and ".installed-test" not in dry
    assert "pybabel compile" in dry  # the interface still gets its compiled catalogs


def test_make_test_installs_the_test_extras_on_a_fresh_clone():
    dry = dry_run("test")
    assert installs(dry)[-1] == ".venv/bin/python -m pip install --quiet -e '.[test]'", dry
    assert dry.index("touch .venv/.installed-run") < dry.index("touch .venv/.installed-test") \
        < dry.index("scripts/test.sh")


def test_make_messages_and_lint_still_find_their_tools():
    assert "pybabel extract" in dry_run("messages")
    assert "ruff check lms tests migrations" in dry_run("lint")
