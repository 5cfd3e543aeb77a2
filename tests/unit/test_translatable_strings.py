"""Every Chinese string a person reads goes through the translation layer.

Python (``lms/``): a string constant holding CJK text must be the message of a gettext call
(``_``, ``gettext``, ``ngettext``, ``_l``, ``lazy_gettext``, ``N_``) — not an f-string, not a
concatenation, not a bare literal. Docstrings and comments are not strings people read.
JavaScript (``static/js/``): no CJK text outside comments; the page passes translated strings in
(``data-messages`` JSON on the script's root element).

``ALLOWED`` lists what stays fixed Chinese on purpose, each with its reason. It is checked for
staleness: an entry that no longer hides anything must be removed, so the list only shrinks.

The catalog (``lms/translations/messages.pot``, ``make messages``) must hold every wrapped string.
"""

import ast
import re
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CJK = re.compile(r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef]")
WRAPPERS = {"_", "gettext", "ngettext", "_l", "lazy_gettext", "lazy_ngettext", "N_"}

# "path" or "path::top-level name" → why the Chinese text stays fixed.
ALLOWED = {
    "lms/search/dictionary.py::DEFAULT_ENTRIES": "reference data: the search dictionary's seed terms and synonyms, "
                                                 "matched against course text, not interface text",
    "lms/search/engine.py::_SYNTAX": "full-width punctuation read as spaces in queries, not interface text",
    "lms/search/engine.py::CHINESE_STOP_WORDS": "reference data: words dropped from queries, matched against what "
                                                "users type, not interface text",
    "lms/accounts/regions.py": "reference data: administrative division names (GB/T 2260), stored and matched as "
                               "published, not interface text",
    "lms/certificates/pdf.py": "the certificate's fixed wording: a certificate is an official document issued in "
                               "Chinese whatever language its reader chose",
    "lms/certificates/credentials.py": "signed credential content (Open Badges / CLR): the issued record's wording, "
                                       "fixed once signed",
    "lms/accounts/forms.py::TITLE_SERIES": "reference data: the professional title series as the national title "
                                           "system names them; the chosen name is what is stored",
    "lms/accounts/sessions.py::_BROWSERS": "product names (微信, QQ浏览器…) as their makers spell them",
    "lms/xapi/statements.py": "xAPI statement content for a Learning Record Store: language maps tagged zh-CN, "
                              "the tag names the language of the text",
    "lms/accounts/cli.py": "command-line output for the platform's operators, run outside any request (no locale); "
                           "its wording is matched by operators' scripts",
    "lms/certificates/cli.py": "command-line output for operators (see lms/accounts/cli.py)",
    "lms/exports/cli.py": "command-line output for operators (see lms/accounts/cli.py)",
    "lms/search/cli.py": "command-line output for operators (see lms/accounts/cli.py)",
    "lms/outbox/cli.py": "command-line output for operators (see lms/accounts/cli.py)",
    "lms/admin/cli.py": "command-line output for operators (see lms/accounts/cli.py)",
    "lms/cli.py": "command-line output for operators (see lms/accounts/cli.py) and the demo data it creates "
                  "(sample accounts and organizations, stored as written)",
    "lms/catalog/cli.py": "command-line output for operators (see lms/accounts/cli.py)",
    "lms/federation/cli.py": "command-line output for operators (see lms/accounts/cli.py)",
    "lms/programme/cli.py": "command-line output for operators (see lms/accounts/cli.py)",
    "lms/backup.py": "what `flask backup` tells operators (see lms/accounts/cli.py); it runs outside any request",
    "lms/programme/plans.py::TOTAL_ROW": "the plan table's file format: the total row's name as the source table "
                                         "writes it, matched in uploaded files",
    "lms/programme/plans.py::_DEPARTMENT_HEADERS": "the plan table's file format: header names matched in uploaded files",
    "lms/programme/plans.py::_SUBTOTAL_HEADERS": "the plan table's file format: header names matched in uploaded files",
    "lms/programme/services.py::OTHER_DEPARTMENT": "reference data: the department value stored for units whose "
                                                   "department is none of the plan's (shown translated)",
    "lms/catalog/services.py::SUBJECTS": "reference data: the subject names as the continuing-education plan names "
                                         "them, stored in the subject table and matched by name in course packages",
    "lms/catalog/services.py::_lesson_video": "the title card drawn into a generated stand-in video: media content, "
                                              "cached by its text, not interface text",
    "lms/exports/records.py::COLUMNS": "the fixed export column headers that HR systems parse: exactly these 15 "
                                       "names in this order (ARCHITECTURE §7), whatever language the exporter reads",
    "lms/credits/services.py::NATIONAL_RULE_NAME": "seed data: the name the national rule set is created with, "
                                                   "stored in the rule-set table and edited there by admins",
    "lms/credits/services.py::EXAMPLE_RULE_SETS": "demo content: the provincial example rule sets' names, stored "
                                                  "as written (see NATIONAL_RULE_NAME)",
    "lms/credits/services.py::record_course_completion": "the note stored with an append-only ledger entry (the "
                                                        "daily cap's effect): part of the record, written once in "
                                                        "the source wording like the entry's course title",
    "lms/exports/records.py::EXTRA_COLUMNS": "the documented extra export column after the 15 fixed ones (学时来源), "
                                             "parsed by HR systems like COLUMNS",
    "lms/claims/services.py::_cap_room": "part of the note stored with an append-only ledger entry (a claim cap's "
                                         "effect), in the source wording like the daily cap's note",
    "lms/claims/services.py::credit_claim": "the note stored with an append-only ledger entry (see _cap_room)",
    "lms/config.py::DEFAULT_ISSUER_NAME": "the certificate's fixed wording (see lms/certificates/pdf.py): the "
                                          "issuer's default name, a configured value printed on certificates and "
                                          "signed into credentials",
}


def unwrapped_literals(source: str) -> list[tuple[int, str, str]]:
    """(line, top-level name, text) of every CJK string constant not passed to a gettext call."""
    tree = ast.parse(source)
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
                  and node.body and isinstance(node.body[0], ast.Expr)
                  and isinstance(node.body[0].value, ast.Constant)}
    found = []
    for statement in tree.body:
        scope = _scope_name(statement)
        parents = {id(child): node for node in ast.walk(statement) for child in ast.iter_child_nodes(node)}
        for node in ast.walk(statement):
            if not (isinstance(node, ast.Constant) and isinstance(node.value, str) and CJK.search(node.value)):
                continue
            if id(node) in docstrings or _is_message(node, parents.get(id(node))):
                continue
            found.append((node.lineno, scope, node.value))
    return found


def _scope_name(statement: ast.stmt) -> str:
    if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return statement.name
    targets = statement.targets if isinstance(statement, ast.Assign) else \
        [statement.target] if isinstance(statement, ast.AnnAssign | ast.AugAssign) else []
    return ",".join(t.id for t in targets if isinstance(t, ast.Name))


def _is_message(node: ast.Constant, parent: ast.AST | None) -> bool:
    if not (isinstance(parent, ast.Call) and node in parent.args):
        return False
    func = parent.func
    return (func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)) in WRAPPERS


def javascript_literals(source: str) -> list[tuple[int, str]]:
    """(line, text) of CJK text outside comments: in strings, template literals or anywhere else."""
    found, i, n = [], 0, len(source)
    while i < n:
        two = source[i:i + 2]
        if two == "//":
            i = source.find("\n", i)
            i = n if i < 0 else i
            continue
        if two == "/*":
            end = source.find("*/", i + 2)
            i = n if end < 0 else end + 2
            continue
        if source[i] in "'\"`":
            quote, j = source[i], i + 1
            while j < n and source[j] != quote:
                j += 2 if source[j] == "\\" else 1
            text = source[i:j + 1]
            if CJK.search(text):
                found.append((source.count("\n", 0, i) + 1, text))
            i = j + 1
            continue
        if CJK.match(source[i]):
            found.append((source.count("\n", 0, i) + 1, source[i:source.find("\n", i)]))
            i = source.find("\n", i) if "\n" in source[i:] else n
            continue
        i += 1
    return found


def _python_files() -> list[Path]:
    return sorted((ROOT / "lms").rglob("*.py"))


def _relative(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def _allowed(path: str, scope: str) -> bool:
    return path in ALLOWED or f"{path}::{scope}" in ALLOWED


def test_python_strings_go_through_gettext():
    offenders = []
    for path in _python_files():
        name = _relative(path)
        offenders += [f"{name}:{line} ({scope or 'module'}): {text!r}"
                      for line, scope, text in unwrapped_literals(path.read_text(encoding="utf-8"))
                      if not _allowed(name, scope)]
    assert not offenders, ("Chinese text not wrapped in _() / _l() / N_() (use _('…%(n)s…', n=…) for values; "
                           "lazy_gettext for module constants and form fields):\n" + "\n".join(offenders))


def test_javascript_strings_come_from_the_page():
    offenders = [f"{_relative(path)}:{line}: {text}"
                 for path in sorted((ROOT / "static" / "js").glob("*.js"))
                 for line, text in javascript_literals(path.read_text(encoding="utf-8"))]
    assert not offenders, ("Chinese text in JavaScript: pass it from the template (data-messages) instead:\n"
                           + "\n".join(offenders))


@pytest.mark.parametrize("entry", sorted(ALLOWED))
def test_every_listed_file_still_needs_its_entry(entry):
    path, _, scope = entry.partition("::")
    assert (ROOT / path).is_file(), f"{path} no longer exists: remove its entry"
    found = unwrapped_literals((ROOT / path).read_text(encoding="utf-8"))
    assert any(not scope or s == scope for _, s, _ in found), f"{entry} has no unwrapped Chinese text left: " \
                                                              f"remove its entry"
    assert ALLOWED[entry].strip(), f"{entry} needs a reason"


@pytest.mark.parametrize(("source", "flagged"), [
    ('x = "中文"', True),
    ('flash(f"已保存 {n} 条")', True),
    ('_("已保存" + "。")', True),
    ('raise InvalidInput("课程不存在。")', True),
    ('_("已保存 %(n)s 条", n=3)', False),
    ('_l("标题")', False),
    ('gettext("标题")', False),
    ('babel.gettext("标题")', False),
    ('ngettext("一条", "%(num)s 条", n)', False),
    ('class A:\n    LABEL = "a", N_("甲")', False),
    ('def f():\n    """说明。"""', False),
    ('x = "plain"  # 注释', False),
    ('_(label="标题")', True),
])
def test_python_checker(source, flagged):
    assert bool(unwrapped_literals(source)) is flagged


@pytest.mark.parametrize(("source", "flagged"), [
    ('const a = "中文";', True),
    ("const a = `第 ${n} 课`;", True),
    ("el.textContent = '完成';", True),
    ("// 注释\nconst a = msg.done; /* 说明 */", False),
    ('const a = "it\\"s 完成";', True),
    ('const a = "plain";', False),
])
def test_javascript_checker(source, flagged):
    assert bool(javascript_literals(source)) is flagged


def _message_ids(catalog) -> set[str]:
    return {m.id if isinstance(m.id, str) else m.id[0] for m in catalog if m.id}


def test_catalog_holds_every_wrapped_string():
    from babel.messages.frontend import CommandLineInterface
    from babel.messages.pofile import read_po

    with tempfile.TemporaryDirectory() as tmp:
        pot = Path(tmp) / "messages.pot"
        CommandLineInterface().run(["pybabel", "-q", "extract", "-F", str(ROOT / "babel.cfg"), "-k", "_l",
                                    "-k", "lazy_gettext", "-k", "N_", "--no-location", "-o", str(pot), str(ROOT)])
        with pot.open("rb") as fresh:
            wanted = _message_ids(read_po(fresh))
    with (ROOT / "lms" / "translations" / "messages.pot").open("rb") as committed:
        missing = wanted - _message_ids(read_po(committed))
    assert not missing, "run `make messages`; the catalog lacks:\n" + "\n".join(sorted(missing))


@pytest.mark.parametrize("locale", ["zh_Hans_CN", "en"])
def test_catalogs_compile(locale):
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    with (ROOT / "lms" / "translations" / locale / "LC_MESSAGES" / "messages.po").open("rb") as po:
        catalog = read_po(po, locale=locale)
    errors = [(m.id, e) for m, e in catalog.check()]
    assert not errors
    with tempfile.TemporaryFile() as mo:
        write_mo(mo, catalog)
