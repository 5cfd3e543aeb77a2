"""Every page in both languages: the English render holds no untranslated interface string.

The pages are the authorization matrix's (tests/web/test_authorization_matrix.py: ``PAGES`` and ``BASES``) on its world
(tests/authz_world.py): every row a role answers with a page (200, or a form sent back with its
errors), requested as the first role in the matrix's column order that may see it. Each page is
rendered once in Chinese (the default) and once in English (chosen in the browser: the switcher's
cookie); both must answer the same status with the right ``<html lang>``.

In the English render, every run of Chinese characters in the text a person reads (text, the
``title``/``aria-label``/``placeholder``/``alt`` attributes, button values, the scripts' messages
in ``data-messages`` and JSON data islands) must be user content: a run found in the world's own
data (every text column of every table: course titles and bodies, names, units, regions, subjects,
rule sets…), in what the request typed (its query, its form), or in the reference lists kept in Chinese on purpose (the
professional title series). Text marked as Chinese with a ``lang="zh…"`` attribute (the language
switcher's “中文”, the certificate's fixed wording) is Chinese by design. The report names each
page and string.
"""

import html
import json
import re
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
from sqlalchemy import JSON, String, Text, select

from lms.core.i18n import LOCALE_COOKIE
from tests.authz_world import COOKIE_ROLES, build
from tests.conftest import committed_app
from tests.web.test_authorization_matrix import BASE_ROWS, PAGE_ROWS, REQUESTS, Row, _fill, _send

ROOT = Path(__file__).resolve().parents[2]
CHINESE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
READ_ATTRIBUTES = {"title", "aria-label", "placeholder", "alt"}


# ---------------------------------------------------------------- the pages

def _page_cases():
    """(row, role): every row some role answers with a page, as the first such role."""
    seen = set()
    for row in PAGE_ROWS + BASE_ROWS:
        if row.method != "GET" and row.name not in REQUESTS:
            continue
        for role in row.expected:  # the table's column order
            expected = row.expected[role]
            if expected in ("200", "400") and (row.name, row.method) not in seen:
                seen.add((row.name, row.method))
                yield pytest.param(row, role, id=f"{row.name}[{role}]")
                break
    # The error pages, as a role refused them.
    for name, status in (("catalog.course~draft", "404"), ("credits.rule_sets", "403")):
        row = next(r for r in PAGE_ROWS if r.name == name)
        role = next(r for r in COOKIE_ROLES if row.expected[r] == status)
        yield pytest.param(row, role, id=f"{name}[{role}]")


PAGE_CASES = list(_page_cases())


@pytest.fixture(scope="module")
def catalogs():
    """The compiled catalogs (.mo, not committed) up to date with the .po files, as `make messages`
    leaves them: a fresh clone's install builds them, an edited catalog is rebuilt here."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    for po in (ROOT / "lms" / "translations").glob("*/LC_MESSAGES/messages.po"):
        mo = po.with_suffix(".mo")
        if not mo.exists() or mo.stat().st_mtime < po.stat().st_mtime:
            with po.open("rb") as source, mo.open("wb") as target:
                write_mo(target, read_po(source))


@pytest.fixture(scope="module")
def app(tmp_path_factory, catalogs):
    with committed_app(tmp_path_factory.mktemp("english"), "english", packages=("GX-NS-001", "GX-DT-002"),
                       LMS_WEBHOOK_ALLOW_HTTP=True, LMS_WEBHOOK_ALLOW_PRIVATE=True) as application:
        yield application


@pytest.fixture(scope="module")
def world(app):
    return build(app)


@pytest.fixture(scope="module")
def user_content(app, world):
    """The runs of Chinese characters in the world's data: every text column of every table."""
    from lms.accounts.forms import TITLE_SERIES
    from lms.extensions import db

    runs = set(CHINESE.findall(" ".join(TITLE_SERIES)))
    with app.app_context():
        for table in db.metadata.sorted_tables:
            for column in table.columns:
                if isinstance(column.type, String | Text | JSON):  # JSON: a question's options
                    for value in db.session.scalars(select(column).where(column.is_not(None))):
                        runs.update(CHINESE.findall(json.dumps(value, ensure_ascii=False)))
    return runs


# ---------------------------------------------------------------- reading a page as a person does

class _Reader(HTMLParser):
    """The text of a page a person reads, as (text, whether it is marked Chinese) pieces."""

    # Search results highlight the words found inside the content's text: read across these as one text.
    WITHIN_TEXT = {"mark", "em", "strong", "b"}
    VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, bool, str]] = []  # (tag, marked Chinese, script type)
        self.pieces: list[tuple[str, bool]] = []
        self.text: list[str] = []  # the text being read, until an element that is not within text

    def _flush(self):
        if "".join(self.text).strip():
            self.pieces.append(("".join(self.text), self._chinese()))
        self.text = []

    def close(self):
        super().close()
        self._flush()

    def _chinese(self) -> bool:
        return bool(self.stack) and self.stack[-1][1]

    def handle_starttag(self, tag, attrs):
        if tag not in self.WITHIN_TEXT:
            self._flush()
        attrs = dict(attrs)
        lang = attrs.get("lang")
        marked = lang.lower().startswith("zh") if lang is not None else self._chinese()
        for name, value in attrs.items():
            if value is None:
                continue
            if name in READ_ATTRIBUTES or (name == "value" and attrs.get("type") in ("submit", "button")):
                self.pieces.append((value, marked))
            elif name == "data-messages":
                self.pieces += [(text, marked) for text in _strings(json.loads(value))]
        if tag not in self.VOID:
            self.stack.append((tag, marked, attrs.get("type") or ""))

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag):
        if tag not in self.WITHIN_TEXT:
            self._flush()
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i][0] == tag:
                del self.stack[i:]
                break

    def handle_data(self, data):
        if self.stack and self.stack[-1][0] == "style":
            return
        if self.stack and self.stack[-1][0] == "script":
            if self.stack[-1][2] == "application/json" and data.strip():
                self.pieces += [(text, self._chinese()) for text in _strings(json.loads(data))]
            return
        self.text.append(data)


def _strings(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def untranslated(page: str, user_runs: set[str]) -> list[str]:
    """The pieces of interface text left in Chinese: each with its untranslated run(s)."""
    reader = _Reader()
    reader.feed(page)
    reader.close()
    found = []
    for text, marked in reader.pieces:
        if marked:
            continue
        left = [run for run in CHINESE.findall(text) if not _is_user_content(run, text, user_runs)]
        if left:
            found.append(f"{' '.join(html.unescape(text).split())[:160]!r} ({'、'.join(left)})")
    return found


def _is_user_content(run: str, text: str, user_runs: set[str]) -> bool:
    """A run of the world's data: whole, or two of them joined; in a text cut short with “…” (a summary,
    a search result's excerpt), a stretch of one."""
    if run in user_runs or any(run[:i] in user_runs and run[i:] in user_runs for i in range(1, len(run))):
        return True
    return "…" in text and len(run) >= 2 and any(run in r for r in user_runs)


# ---------------------------------------------------------------- the test

def _get(app, world, row: Row, role: str, locale: str | None):
    """The row's request as the role, in this browser's chosen language (the switcher's cookie) if any."""
    if locale:
        identity = world.identities[role]
        domain = identity.cookies[0][2] if identity.cookies else "localhost"
        chosen = replace(identity, cookies=[*identity.cookies, (LOCALE_COOKIE, locale, domain, "/")])
        world = replace(world, identities={**world.identities, role: chosen})
    return _send(app, world, row, role)


@pytest.mark.parametrize(("row", "role"), PAGE_CASES)
def test_every_page_is_translated(app, world, user_content, db_session, row, role):
    chinese = _get(app, world, row, role, None)
    english = _get(app, world, row, role, "en")
    if chinese.mimetype != "text/html":
        # Not a page (JSON, a PDF, a video, a file): the language changes nothing about the kind of answer
        # (statuses may differ: a second upload of the same part is a conflict).
        assert english.mimetype == chinese.mimetype, f"{row.name}: {chinese.mimetype} in Chinese, {english.mimetype} in English"
        return
    assert english.status_code == chinese.status_code, f"{row.name}: {chinese.status_code} in Chinese, " \
                                                      f"{english.status_code} in English"
    assert '<html lang="zh-CN">' in chinese.get_data(as_text=True)
    page = english.get_data(as_text=True)
    assert '<html lang="en">' in page
    typed = [value for _, value in parse_qsl(urlsplit(_fill(row.path, world)).query)]
    form = REQUESTS.get(row.name, {}).get("form", {})
    typed += [str(value) for value in (form(world) if callable(form) else form).values()]
    runs = user_content | {run for value in typed for run in CHINESE.findall(value)}
    left = untranslated(page, runs)
    assert not left, (f"{_fill(row.path, world)} as {role}, in English, still shows interface text in Chinese "
                      "(wrap it for translation and translate it in lms/translations/en; see the README):\n  "
                      + "\n  ".join(left))


def test_the_reader_tells_interface_text_from_content():
    page = ('<html lang="en"><body><h1 title="课程">Course</h1><p>网络安全 basics</p>'
            '<span lang="zh-CN">中文</span><script>var a = "脚本";</script>'
            '<div data-messages=\'{"x": "已完成"}\'></div><input type="submit" value="提交"></body></html>')
    assert untranslated(page, {"网络安全"}) == ["'课程' (课程)", "'已完成' (已完成)", "'提交' (提交)"]
