"""Search corpora for the benchmark and the relevance tests.

Two corpora:

* the relevance corpus: the hand-made course records of ``bench/relevance/courses.tsv`` plus the
  eight demo courses of ``courses/``, judged by ``bench/relevance/judgments.tsv``;
* a generated catalog of any size (10,000 by default) whose courses are realistically distinct:
  each has one topic out of the ~300 terms of the hand-made records, an industry, a format and
  tags drawn from related topics, so a typical query matches a few percent of the courses.

Judgments are graded 0–3 (3 = what was asked for, 2 = clearly relevant, 1 = partly; unjudged = 0);
a query judged ``none`` must return nothing.
"""

import math
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

from lms.catalog.packages import load_package
from lms.search.services import CourseDocument

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "relevance"
SUBJECTS = {"digital": "数字技术", "ip": "知识产权", "cybersecurity": "网络安全", "emergency": "应急管理",
            "law": "法律法规", "ethics": "职业道德", "health": "心理健康", "green": "绿色发展"}
SUBJECT_CODES = {name: code for code, name in SUBJECTS.items()}
CATEGORIES = {"公需": "public", "专业": "professional", "选修": "elective"}
PUBLISHERS = ["公需课程资源中心", "某省人力资源和社会保障厅", "某市继续教育基地", "国家级专业技术人员继续教育基地",
              "某大学继续教育学院", "某行业协会培训中心"]


@dataclass(frozen=True)
class Judged:
    query: str
    theme: str
    grades: dict  # code -> 1..3; empty: must return nothing


def demo_documents() -> list[CourseDocument]:
    subjects = {"数字技术", "知识产权", "网络安全", "应急管理"}
    start = datetime(2026, 1, 5, 9, 0)
    docs = []
    for i, folder in enumerate(sorted(p.parent for p in (ROOT / "courses").glob("*/course.yaml"))):
        package = load_package(folder, subjects=subjects)
        lessons = [lesson for chapter in package.chapters for lesson in chapter.lessons]
        docs.append(CourseDocument(
            code=package.code, title=package.title, summary=package.summary, syllabus=package.syllabus,
            lessons=tuple(lesson.title for lesson in lessons), tags=tuple(package.tags),
            publisher=package.publisher_name, subject_code=SUBJECT_CODES[package.subject],
            subject_name=package.subject, category=CATEGORIES[package.category],
            credit_hours=package.credit_hours, published_at=start + timedelta(days=i),
            lesson_text="\n".join(lesson.body for lesson in lessons)))
    return docs


def _records():
    for line in (DATA / "courses.tsv").read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            yield line.split("\t")


def relevance_documents() -> list[CourseDocument]:
    """The hand-made records and the demo courses: the corpus the judgments are made against."""
    start = datetime(2025, 3, 1, 9, 0)
    docs = []
    for i, (code, subject, category, hours, title, tags, summary) in enumerate(_records()):
        docs.append(CourseDocument(
            code=code, title=title, summary=summary, syllabus="", lessons=(), tags=tuple(tags.split("、")),
            publisher=PUBLISHERS[i % len(PUBLISHERS)], subject_code=subject, subject_name=SUBJECTS[subject],
            category=category, credit_hours=Decimal(hours), published_at=start + timedelta(days=i)))
    return docs + demo_documents()


def judgments() -> list[Judged]:
    judged = []
    for line in (DATA / "judgments.tsv").read_text(encoding="utf-8").splitlines():
        if not line or line.startswith("#"):
            continue
        query, theme, grades = line.split("\t")
        pairs = [] if grades == "none" else [g.split(":") for g in grades.split()]
        judged.append(Judged(query, theme, {code: int(grade) for code, grade in pairs}))
    return judged


def ndcg_at(codes: list[str], grades: dict, k: int = 10) -> float:
    """Normalised discounted cumulative gain of a ranking (gain 2^grade − 1)."""
    def dcg(gains):
        return sum((2 ** g - 1) / math.log2(i + 2) for i, g in enumerate(gains[:k]))

    ideal = dcg(sorted(grades.values(), reverse=True))
    return dcg([grades.get(code, 0) for code in codes]) / ideal if ideal else (1.0 if not codes else 0.0)


def precision_at(codes: list[str], grades: dict, k: int = 5) -> float:
    """Share of the first ``k`` results (or of all of them, when fewer come back) that are
    relevant; nothing returned for a query with relevant courses scores 0."""
    top = codes[:k]
    if not top:
        return 0.0 if grades else 1.0
    return sum(1 for code in top if grades.get(code, 0) > 0) / len(top)


# ---------------------------------------------------------------- the generated catalog

INDUSTRIES = ["医疗卫生", "教育", "金融", "交通运输", "制造业", "农业农村", "建筑施工", "电力能源", "化工", "水利",
              "文化旅游", "政务服务", "科研院所", "互联网企业", "物流", "食品药品", "矿山", "港口航运", "通信", "环保",
              "城市管理", "社区", "高校", "中小企业", "国有企业", "民航", "铁路", "石油石化", "冶金", "纺织"]
FORMATS = ["概论", "实务", "案例解析", "入门", "进阶", "专题讲座", "政策解读", "操作指南", "热点问题", "前沿进展",
           "基础知识", "能力提升", "合规要点", "风险防范", "最佳实践"]
OPENINGS = ["本课程面向{industry}领域的专业技术人员，", "结合{industry}行业的实际案例，", "针对{industry}单位的工作特点，",
            "围绕{industry}岗位的常见场景，", "立足{industry}领域的发展需求，"]
CLAUSES = ["系统讲解{a}的基本概念与核心制度", "梳理{a}与{b}之间的关系", "介绍{a}在实际工作中的应用",
           "分析{a}领域的典型问题与应对方法", "讲解{a}的政策要求和操作规范", "结合{b}说明{a}的落实路径",
           "总结{a}的常见误区", "演示{a}相关工具的使用", "对比国内外{a}的做法", "探讨{a}的发展趋势"]


def topics() -> list[tuple[str, str, list[str]]]:
    """(subject code, topic term, related terms) taken from the hand-made records."""
    out = []
    for _code, subject, _category, _hours, _title, tags, _summary in _records():
        terms = [t for t in tags.split("、") if t and not t.isascii()]
        for term in terms:
            out.append((subject, term, [t for t in terms if t != term]))
    return out


def generate(n: int, rng: random.Random):
    """``n`` distinct courses: topic × industry × format titles, summaries and lessons from templates."""
    pool = topics()
    by_subject: dict[str, list[str]] = {}
    for subject, term, _related in pool:
        by_subject.setdefault(subject, []).append(term)
    start = datetime(2023, 1, 1)
    for i in range(n):
        subject, topic, related = rng.choice(pool)
        industry, fmt = rng.choice(INDUSTRIES), rng.choice(FORMATS)
        near = related + rng.sample(by_subject[subject], min(3, len(by_subject[subject])))
        others = rng.sample(pool, 3)

        def clause(a, b):
            return rng.choice(CLAUSES).format(a=a, b=b)

        summary = (rng.choice(OPENINGS).format(industry=industry)
                   + "，".join(clause(topic if k == 0 else rng.choice(near), rng.choice(near)) for k in range(3)) + "。")
        lessons = tuple(f"{rng.choice([topic, *near])}{rng.choice(FORMATS)}" for _ in range(rng.randint(4, 8)))
        body = "。".join(clause(rng.choice(near + [o[1] for o in others]), rng.choice(near)) for _ in range(8)) + "。"
        yield CourseDocument(
            code=f"B-{i:05d}", title=f"{industry}{topic}{fmt}", summary=summary, syllabus=body,
            lessons=lessons, tags=tuple(dict.fromkeys([topic, *rng.sample(near, min(3, len(near)))])),
            publisher=rng.choice(PUBLISHERS), subject_code=subject, subject_name=SUBJECTS[subject],
            category=rng.choice(["public", "public", "professional", "elective"]),
            credit_hours=Decimal(rng.choice([5, 10, 15, 20, 30, 40])) / 10,
            published_at=start + timedelta(hours=i * 3),
            lesson_text="。".join(clause(rng.choice(near), industry) for _ in range(6)) + "。")


def bench_queries(docs: list[CourseDocument], n: int, rng: random.Random) -> list[str]:
    """``n`` distinct queries drawn from the corpus: tags, topic + industry, two tags, title words."""
    queries: dict[str, None] = {}
    attempts = 0
    while len(queries) < n and attempts < n * 50:
        attempts += 1
        doc = rng.choice(docs)
        kind = rng.random()
        if kind < 0.4:
            q = rng.choice(doc.tags)
        elif kind < 0.6:
            q = f"{doc.tags[0]} {doc.title[:2]}"
        elif kind < 0.8 and len(doc.tags) > 1:
            q = " ".join(rng.sample(doc.tags, 2))
        else:
            q = rng.choice(doc.lessons or (doc.title,))
        queries.setdefault(q, None)
    return list(queries)
