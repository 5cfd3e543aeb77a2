"""Configuration in one place: every setting the code reads is declared in lms/config.py, with its
default and meaning, and the README's settings tables are what lms/config.py says."""

import re

from lms import config
from tests.conftest import ROOT

README_START = "<!-- settings: generated from lms/config.py (settings_tables), checked by tests/unit/test_config.py -->"
README_END = "<!-- /settings -->"

# What reading a setting looks like: app.config["X"], config.get("X"), _config("X") (lms/outbox),
# os.environ["X"] / os.environ.get("X") / os.getenv("X"), and in templates config.X / config['X'].
_READS = [
    re.compile(r"""config(?:\.get\(|\[)\s*["']([A-Z][A-Z0-9_]+)["']"""),
    re.compile(r"""_config\(\s*["']([A-Z][A-Z0-9_]+)["']"""),
    re.compile(r"""environ(?:\.get\(|\[)\s*["']([A-Z][A-Z0-9_]+)["']"""),
    re.compile(r"""getenv\(\s*["']([A-Z][A-Z0-9_]+)["']"""),
    re.compile(r"""\bconfig\.([A-Z][A-Z0-9_]+)\b"""),
]
# Any LMS_* name in the code (a helper may read it, a message may name it) is a declared setting.
_LMS_NAME = re.compile(r"\bLMS_[A-Z0-9_]+\b")


def _sources():
    for path in sorted([*(ROOT / "lms").rglob("*.py"), *(ROOT / "templates").rglob("*.html"), ROOT / "wsgi.py"]):
        if path.name != "config.py" or path.parent.name != "lms":
            yield path, path.read_text(encoding="utf-8")


def test_every_setting_the_code_reads_is_declared():
    declared = config.declared_keys() | {s.name for s in config.ENVIRONMENT}
    undeclared = set()
    for path, text in _sources():
        for pattern in _READS:
            undeclared |= {f"{path.relative_to(ROOT)}: {name}" for name in pattern.findall(text)
                           if name not in declared}
        undeclared |= {f"{path.relative_to(ROOT)}: {name}" for name in _LMS_NAME.findall(text) if name not in declared}
    assert not undeclared, "read but not declared in lms/config.py:\n" + "\n".join(sorted(undeclared))


def test_the_check_finds_an_undeclared_read():
    text = 'x = current_app.config.get("LMS_NOT_DECLARED") or os.environ["ALSO_NOT"]'
    found = {name for pattern in _READS for name in pattern.findall(text)}
    assert found == {"LMS_NOT_DECLARED", "ALSO_NOT"}


def test_every_declared_setting_has_a_meaning_and_one_declaration():
    names = [s.name for s in config.ENVIRONMENT]
    keys = [s.config_key for s in config.ENVIRONMENT if s.config_key] + list(config.FIXED) + list(config.DERIVED)
    assert len(names) == len(set(names)) and len(keys) == len(set(keys))
    assert all(s.meaning.strip() for s in config.ENVIRONMENT)
    assert all(meaning.strip() for _value, meaning in config.FIXED.values())
    assert all(meaning.strip() for meaning in config.DERIVED.values())


def test_load_config_sets_every_declared_key(tmp_path, monkeypatch):
    for setting in config.ENVIRONMENT:
        monkeypatch.delenv(setting.name, raising=False)
    loaded = config.load_config(str(tmp_path))
    assert set(loaded) == config.declared_keys()


def test_the_readme_tables_are_the_declared_settings():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert README_START in readme and README_END in readme, "the README has lost its settings markers"
    section = readme.split(README_START, 1)[1].split(README_END, 1)[0].strip("\n") + "\n"
    assert section == config.settings_tables(), (
        "README.md's settings tables differ from lms/config.py; paste the output of\n"
        "  .venv/bin/python -c 'from lms.config import settings_tables; print(settings_tables(), end=\"\")'\n"
        "between the markers")
