"""Reading a plan's target table (能力提升项目计划表) and checking its sums.

The table is a CSV file as the seed ships it (``data/plan_2022_targets.csv``): a header row
``department, <the 15 domains in Chinese>, subtotal`` (``部门`` and ``小计`` are accepted too, the
domain columns in any order), one row per department, and a last row ``合计`` with the column
totals. Cells are targets in 万人 (10,000 persons); a blank cell has no target.

The checks the source table needs, all in ``Decimal`` (never floats, which drift):

- every cell is blank or a number ≥ 0 with at most two decimals;
- every department row sums to its subtotal, and every column (the subtotals too) to the ``合计``
  row, each within :data:`TOLERANCE` (0.05 万人): the source prints its totals rounded to one
  decimal, so the 2022 table's 网络安全 column sums to 3.85 against a printed 3.9, and 应急管理 to
  17.45 against 17.5 — both accepted, nothing more is. The ``合计`` row itself is not summed across:
  its rounded column totals add up to 90.1 against 90.0 in the 2022 table (the two 0.05s); the
  grand total is checked as the sum of the subtotals instead.

A broken table is refused whole, with every problem named by its cell in the table's own words
(department × domain). When one row and one column are both off by the same amount, the cell
where they cross is named as the likely culprit. Worked example: raise 工业和信息化部 × 新材料 in the
2022 table from 0.1 to 0.6 and the import says "工业和信息化部 × 新材料 = 0.6：该行各领域之和比小计多
0.5 万人，该列之和比合计多 0.5 万人…" and imports nothing. Domains are named in the reader's language
(the Chinese of the table on the Chinese interface and the command line).
"""

import csv
import io
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from flask_babel import gettext as _

from ..catalog.models import Domain
from .text import FORMULA_STARTS, hidden_characters

TOLERANCE = Decimal("0.05")
TOTAL_ROW = "合计"
_DEPARTMENT_HEADERS = {"department", "部门"}
_SUBTOTAL_HEADERS = {"subtotal", "小计"}
MAX_BYTES = 256 * 1024  # a plan is a few kilobytes; anything bigger is not one
MAX_DEPARTMENTS = 200


@dataclass
class ParsedDepartment:
    name: str
    subtotal: Decimal
    targets: dict[Domain, Decimal] = field(default_factory=dict)  # blank cells are absent


@dataclass
class ParsedPlan:
    departments: list[ParsedDepartment]
    totals: dict[Domain, Decimal]  # the 合计 row as stated
    total: Decimal  # the 合计 row's subtotal


class PlanError(ValueError):
    """The table cannot be imported; ``problems`` says why, each naming its cell."""

    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems))
        self.problems = problems


def _decode(data: bytes) -> str:
    if len(data) > MAX_BYTES:
        raise PlanError([_("文件过大（超过 %(kb)s KB），不是计划表。", kb=MAX_BYTES // 1024)])
    for encoding in ("utf-8-sig", "gb18030"):  # Excel in China saves CSV as GBK unless told otherwise
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise PlanError([_("无法读取文件：请保存为 UTF-8 或 GBK 编码的 CSV 文件。")])


def _header(row: list[str]) -> list[Domain]:
    cells = [c.strip() for c in row]
    if len(cells) < 3 or cells[0].lower() not in _DEPARTMENT_HEADERS or cells[-1].lower() not in _SUBTOTAL_HEADERS:
        raise PlanError([_("第 1 行应为表头：部门（department）、15 个领域、小计（subtotal）。")])
    domains, problems = [], []
    for name in cells[1:-1]:
        try:
            domain = Domain.from_label(name)
        except ValueError:
            problems.append(_("表头中的“%(name)s”不是计划表的领域。", name=name))
            continue
        if domain in domains:
            problems.append(_("表头中的领域“%(name)s”出现了两次。", name=name))
        domains.append(domain)
    missing = [d.label for d in Domain if d not in domains]
    if missing:
        problems.append(_("表头缺少领域：%(names)s。", names=_("、").join(missing)))
    if problems:
        raise PlanError(problems)
    return domains


def _number(text: str, where: str, problems: list[str]) -> Decimal | None:
    text = text.strip()
    if not text:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        value = None
    if value is None or not value.is_finite():
        problems.append(_("%(where)s：“%(text)s”不是数字。", where=where, text=text))
        return None
    if value < 0:
        problems.append(_("%(where)s：目标不能为负数（%(text)s）。", where=where, text=text))
        return None
    if value.as_tuple().exponent < -2 or value >= Decimal("1000000"):
        problems.append(_("%(where)s：“%(text)s”超出范围（万人，最多两位小数）。", where=where, text=text))
        return None
    return value


def _rows(text: str, domains: list[Domain], problems: list[str]):
    """(line number, department name, {domain: value}, subtotal) for each row after the header."""
    reader = csv.reader(io.StringIO(text))
    next(reader)
    for line, row in enumerate(reader, start=2):
        if not any(c.strip() for c in row):
            continue
        if len(row) != len(domains) + 2:
            problems.append(_("第 %(line)s 行有 %(n)s 列，表头有 %(m)s 列。", line=line, n=len(row), m=len(domains) + 2))
            continue
        name = " ".join(row[0].split())
        if not name:
            problems.append(_("第 %(line)s 行没有部门名称。", line=line))
            continue
        if hidden_characters(name):
            problems.append(_("第 %(line)s 行的部门名称含有不可见的控制字符或格式字符（如零宽空格、文字方向控制符）。",
                              line=line))
            continue
        if name.startswith(FORMULA_STARTS):
            problems.append(_("第 %(line)s 行的部门名称以“%(char)s”开头，会被表格软件当作公式：请填写部门的名称。",
                              line=line, char=name[0]))
            continue
        if len(name) > 60:
            problems.append(_("第 %(line)s 行的部门名称过长（最多 60 字）。", line=line))
            continue
        values = {}
        for domain, cell in zip(domains, row[1:-1], strict=True):
            value = _number(cell, f"{name} × {domain.label}", problems)
            if value is not None:
                values[domain] = value
        subtotal = _number(row[-1], _("%(name)s × 小计", name=name), problems)
        if subtotal is None and not row[-1].strip():
            problems.append(_("%(name)s × 小计：不能为空。", name=name))
        yield line, name, values, subtotal


def _off(difference: Decimal) -> str:
    return _("多") if difference > 0 else _("少")


def _differences(departments: list[ParsedDepartment], totals: dict[Domain, Decimal]) -> tuple[dict, dict]:
    """The rows off their subtotal and the columns off their 合计, by more than the tolerance."""
    rows = {}
    for dep in departments:
        difference = sum(dep.targets.values(), Decimal(0)) - dep.subtotal
        if abs(difference) > TOLERANCE:
            rows[dep.name] = difference
    columns = {}
    for domain in Domain:
        difference = sum((d.targets.get(domain, Decimal(0)) for d in departments), Decimal(0)) \
            - totals.get(domain, Decimal(0))
        if abs(difference) > TOLERANCE:
            columns[domain] = difference
    return rows, columns


def _crossings(departments: list[ParsedDepartment], rows: dict, columns: dict) -> list[tuple]:
    """(department, domain) where a row and a column are off by the same amount: the likely culprits."""
    found, used_columns = [], set()
    for dep in departments:
        if dep.name not in rows:
            continue
        domain = next((d for d in Domain if columns.get(d) == rows[dep.name] and d not in used_columns), None)
        if domain is not None:
            found.append((dep, domain))
            used_columns.add(domain)
    return found


def _check_sums(departments: list[ParsedDepartment], totals: dict[Domain, Decimal], total: Decimal) -> list[str]:
    """Row sums against subtotals, column sums against the 合计 row; the crossing cell when both are off."""
    rows, columns = _differences(departments, totals)
    problems = []
    crossings = _crossings(departments, rows, columns)
    for dep, domain in crossings:
        value = dep.targets.get(domain)
        problems.append(_("%(department)s × %(domain)s = %(value)s：该行各领域之和比小计%(off)s %(d)s 万人，"
                          "该列之和比合计%(off)s %(d)s 万人，此格可能有误。", department=dep.name,
                          domain=domain.label, value=value if value is not None else _("（空）"),
                          off=_off(rows[dep.name]), d=abs(rows[dep.name])))
    explained_rows = {dep.name for dep, _domain in crossings}
    explained_columns = {domain for _dep, domain in crossings}
    for dep in departments:
        if dep.name in rows and dep.name not in explained_rows:
            problems.append(_("%(department)s：各领域之和 %(sum)s 与小计 %(subtotal)s 相差 %(d)s 万人（允许 %(tol)s）。",
                              department=dep.name, sum=dep.subtotal + rows[dep.name], subtotal=dep.subtotal,
                              d=abs(rows[dep.name]), tol=TOLERANCE))
    for domain, difference in columns.items():
        if domain not in explained_columns:
            stated = totals.get(domain, Decimal(0))
            problems.append(_("%(total)s × %(domain)s：该列之和 %(sum)s 与合计 %(stated)s 相差 %(d)s 万人（允许 %(tol)s）。",
                              total=_("合计"), domain=domain.label, sum=stated + difference, stated=stated,
                              d=abs(difference), tol=TOLERANCE))
    subtotal_sum = sum((d.subtotal for d in departments), Decimal(0))
    if abs(subtotal_sum - total) > TOLERANCE:
        problems.append(_("%(total)s × 小计：各部门小计之和 %(sum)s 与合计 %(stated)s 相差 %(d)s 万人（允许 %(tol)s）。",
                          total=_("合计"), sum=subtotal_sum, stated=total, d=abs(subtotal_sum - total), tol=TOLERANCE))
    return problems


def parse_plan(data: bytes) -> ParsedPlan:
    """The plan in ``data`` (CSV bytes), checked; :class:`PlanError` with every problem otherwise."""
    # Line ends as any spreadsheet writes them (CRLF, LF, a Mac's CR, even CRCR): one line each.
    text = _decode(data).replace("\r\n", "\n").replace("\r", "\n")
    if "\x00" in text:
        raise PlanError([_("无法读取文件：文件中含有无效字符（NUL）。请从表格软件另存为 CSV（UTF-8）后再导入。")])
    try:
        return _parse(text)
    except csv.Error as exc:
        raise PlanError([_("无法读取文件：%(why)s。请从表格软件另存为 CSV（UTF-8）后再导入。",
                           why=_("单元格内容过长") if "field limit" in str(exc) else _("CSV 格式有误"))]) from None


def _parse(text: str) -> ParsedPlan:
    first = next(csv.reader(io.StringIO(text)), None)
    if first is None:
        raise PlanError([_("文件是空的。")])
    domains = _header(first)
    problems: list[str] = []
    departments, totals_row, seen = [], None, set()
    for line, name, values, subtotal in _rows(text, domains, problems):
        if totals_row is not None:
            problems.append(_("第 %(line)s 行在合计行之后：合计行应为最后一行。", line=line))
            continue
        if name == TOTAL_ROW:
            totals_row = (values, subtotal or Decimal(0))
            continue
        if name in seen:
            problems.append(_("第 %(line)s 行：部门“%(name)s”出现了两次。", line=line, name=name))
            continue
        seen.add(name)
        departments.append(ParsedDepartment(name=name, subtotal=subtotal or Decimal(0), targets=values))
    if not departments:
        problems.append(_("表中没有部门。"))
    if len(departments) > MAX_DEPARTMENTS:
        problems.append(_("部门过多（最多 %(n)s 个）。", n=MAX_DEPARTMENTS))
    if totals_row is None:
        problems.append(_("缺少合计行（部门一栏为“合计”）。"))
    if problems:
        raise PlanError(problems)
    totals, total = totals_row
    problems = _check_sums(departments, totals, total)
    if problems:
        raise PlanError(problems)
    return ParsedPlan(departments=departments, totals=totals, total=total)
