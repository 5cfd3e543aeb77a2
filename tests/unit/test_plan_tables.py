"""Reading and checking a plan's target table (lms/programme/plans.py): the seed passes; every kind of
broken table is refused with the cell named, in Decimal, at the 0.05 万人 tolerance."""

from decimal import Decimal

import pytest

from lms.catalog.models import Domain
from lms.programme.plans import TOLERANCE, PlanError, parse_plan
from lms.programme.services import REFERENCE_PLAN

SEED = REFERENCE_PLAN.read_text(encoding="utf-8")


def problems(text: str, encoding="utf-8") -> list[str]:
    with pytest.raises(PlanError) as refused:
        parse_plan(text.encode(encoding))
    return refused.value.problems


def test_the_seed_table_passes_with_its_two_rounded_column_totals():
    plan = parse_plan(SEED.encode("utf-8"))
    assert [d.name for d in plan.departments][:2] == ["中央网信办", "国家发展改革委"] and len(plan.departments) == 16
    assert plan.total == Decimal("90.0") and plan.totals[Domain.CYBERSECURITY] == Decimal("3.9")
    column = sum((d.targets.get(Domain.CYBERSECURITY, Decimal(0)) for d in plan.departments), Decimal(0))
    assert column == Decimal("3.85") and abs(column - plan.totals[Domain.CYBERSECURITY]) == TOLERANCE
    assert all(isinstance(v, Decimal) for d in plan.departments for v in d.targets.values())


def test_gbk_files_and_a_byte_order_mark_are_read():
    assert len(parse_plan(SEED.encode("gb18030")).departments) == 16
    assert len(parse_plan(SEED.encode("utf-8-sig")).departments) == 16


def test_a_cell_off_in_its_row_and_column_is_named():
    broken = SEED.replace("4.5,0.1,0.3,0.1,1.0", "4.5,0.1,0.3,0.6,1.0")
    assert problems(broken) == ["工业和信息化部 × 新材料 = 0.6：该行各领域之和比小计多 0.5 万人，该列之和比合计多 0.5 万人，此格可能有误。"]


def test_a_row_off_its_subtotal_alone_names_the_department():
    broken = SEED.replace("国家知识产权局,,,,,,,,,,0.1,4.5,0.1,0.1,0.1,0.1,5.0", "国家知识产权局,,,,,,,,,,0.1,4.5,0.1,0.1,0.1,0.1,5.2")
    found = problems(broken)
    assert any(p.startswith("国家知识产权局：各领域之和 5.0 与小计 5.2") for p in found)
    assert any(p.startswith("合计 × 小计") for p in found)


def test_a_column_total_off_names_the_total_cell():
    broken = SEED.replace("合计,8.3,", "合计,8.5,")
    assert problems(broken)[0].startswith("合计 × 新一代信息技术：该列之和 8.3 与合计 8.5 相差 0.2 万人")


def test_a_difference_of_exactly_the_tolerance_passes_and_a_little_more_does_not():
    at_limit = SEED.replace("合计,8.3,", "合计,8.35,")
    parse_plan(at_limit.encode("utf-8"))
    over = SEED.replace("合计,8.3,", "合计,8.36,")
    assert "相差 0.06 万人" in problems(over)[0]


@pytest.mark.parametrize(("cell", "message"), [("abc", "“abc”不是数字"), ("-0.1", "不能为负数"), ("0.125", "超出范围"),
                                               ("NaN", "不是数字"), ("1e9", "超出范围")])
def test_a_bad_cell_is_named_by_department_and_domain(cell, message):
    broken = SEED.replace("科技部,1.1,", f"科技部,{cell},")
    found = problems(broken)
    assert found[0].startswith("科技部 × 新一代信息技术：") and message in found[0]


def test_header_rows_and_shape_are_checked():
    header, rest = SEED.split("\n", 1)
    assert "不是计划表的领域" in problems(header.replace("生物技术", "生物医药") + "\n" + rest)[0]
    assert "出现了两次" in " ".join(problems(header.replace("生物技术", "新能源") + "\n" + rest))
    assert "第 1 行应为表头" in problems("部门,小计\n")[0]
    assert problems("") == ["文件是空的。"]
    assert "缺少合计行" in " ".join(problems(SEED.replace("合计,", "总数,")))
    assert "出现了两次" in " ".join(problems(SEED.replace("教育部,", "财政部,")))
    assert "有 3 列" in " ".join(problems(SEED.replace("中央网信办,,,,,,,,,,1.0,,1.0,,,,2.0", "中央网信办,1,2")))
    assert "合计行应为最后一行" in " ".join(problems(SEED + "多余部门,,,,,,,,,,,,,,,,0\n"))
    with pytest.raises(PlanError) as refused:
        parse_plan(b"\xff\xfe\xfd" * 10)  # neither UTF-8 nor GBK
    assert refused.value.problems == ["无法读取文件：请保存为 UTF-8 或 GBK 编码的 CSV 文件。"]
    with pytest.raises(PlanError) as refused:
        parse_plan(SEED.encode("utf-8") * 300)
    assert "文件过大" in refused.value.problems[0]


@pytest.mark.parametrize("ending", ["\r", "\r\r", "\r\n", "\n"], ids=["cr", "crcr", "crlf", "lf"])
def test_any_line_ending_is_read(ending):
    text = REFERENCE_PLAN.read_text(encoding="utf-8")
    parsed = parse_plan(ending.join(text.splitlines()).encode("utf-8"))
    assert parsed.departments == parse_plan(REFERENCE_PLAN.read_bytes()).departments


@pytest.mark.parametrize(("change", "message"), [
    (lambda lines: [lines[0], "x" * 200_000 + lines[1][lines[1].index(","):], *lines[2:]], "单元格内容过长"),
    (lambda lines: [lines[0], "部门\x00名" + lines[1][lines[1].index(","):], *lines[2:]], "NUL"),
], ids=["long-cell", "nul"])
def test_an_unreadable_file_is_refused_with_a_message(change, message):
    lines = REFERENCE_PLAN.read_text(encoding="utf-8").splitlines()
    with pytest.raises(PlanError) as refused:
        parse_plan("\n".join(change(lines)).encode("utf-8"))
    assert message in " ".join(refused.value.problems)
