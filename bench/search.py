"""Search benchmark: index build rate and query latency over 10,000 generated courses.

    .venv/bin/python bench/search.py [--courses 10000] [--queries 1000]

Courses are generated from the words of the demo catalog (titles, tags, lesson titles,
summaries), so documents and queries look like the real thing. Not part of the test suite.
"""

import argparse
import random
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lms.catalog.packages import load_package  # noqa: E402
from lms.search import services  # noqa: E402

SUBJECTS = {"数字技术": "digital", "知识产权": "ip", "网络安全": "cybersecurity", "应急管理": "emergency",
            "法律法规": "law", "职业道德": "ethics", "心理健康": "health", "绿色发展": "green"}
PUBLISHERS = ["公需课程资源中心", "某省人力资源和社会保障厅", "某市继续教育基地", "国家级专业技术人员继续教育基地",
              "某大学继续教育学院", "某行业协会培训中心"]
QUERIES = ["网络安全法", "数据安全", "个人信息保护", "GDPR", "AI 伦理", "人工智能", "大模型", "数字经济",
           "数字化转型", "突发事件应对法", "应急预案", "自救互救", "安全生产", "事故报告", "隐患排查",
           "知识产权", "著作权", "商业秘密", "专利申请", "商标注册", "PCT", "等级保护", "数字素养", "心理健康",
           "职业道德", "绿色发展 碳达峰", "机器学习", "数据跨境", "双重预防机制", "烘焙蛋糕"]


def vocabulary():
    packages = [load_package(p.parent, subjects={"数字技术", "知识产权", "网络安全", "应急管理"})
                for p in sorted((ROOT / "courses").glob("*/course.yaml"))]
    titles = [p.title for p in packages]
    lessons = [lesson.title for p in packages for c in p.chapters for lesson in c.lessons]
    tags = [t for p in packages for t in p.tags]
    sentences = [s for p in packages for s in p.summary.replace("，", "。").split("。") if len(s) > 6]
    return titles, lessons, tags, sentences


def generate(n: int, rng: random.Random):
    titles, lessons, tags, sentences = vocabulary()
    start = datetime(2023, 1, 1)
    for i in range(n):
        subject = rng.choice(list(SUBJECTS))
        picked_lessons = rng.sample(lessons, rng.randint(4, 8))
        yield services.CourseDocument(
            code=f"B-{i:05d}", title=f"{rng.choice(picked_lessons)}（{rng.choice(titles)}专题{i % 97}）",
            summary="，".join(rng.sample(sentences, 3)) + "。", syllabus="\n".join(rng.sample(sentences, 6)),
            lessons=tuple(picked_lessons), tags=tuple(rng.sample(tags, 4)), publisher=rng.choice(PUBLISHERS),
            subject_code=SUBJECTS[subject], subject_name=subject,
            category=rng.choice(["public", "public", "professional", "elective"]),
            credit_hours=Decimal(rng.choice([5, 10, 15, 20, 30, 40])) / 10,
            published_at=start + timedelta(hours=i * 3), lesson_text="\n".join(rng.sample(sentences, 10)),
        )


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--courses", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=1_000)
    args = parser.parse_args()
    rng = random.Random(2026)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        services.init_jieba(Path(tmp) / "jieba-cache")
        print(f"jieba start-up: {time.perf_counter() - t0:.2f} s")
        docs = list(generate(args.courses, rng))
        index_dir = Path(tmp) / "search-index"
        t0 = time.perf_counter()
        n = services.rebuild_index(docs, index_dir=index_dir)
        build = time.perf_counter() - t0
        print(f"index build: {n} courses in {build:.1f} s = {n / build:.0f} courses/s")

        t0 = time.perf_counter()
        services.index_course(docs[0], index_dir=index_dir)
        print(f"one incremental update (job body): {(time.perf_counter() - t0) * 1000:.0f} ms")

        sorts, hours = list(services.SORTS), [None, None, "1to2", "2to4"]
        services.search("预热", index_dir=index_dir)
        latencies = []
        for i in range(args.queries):
            filters = services.SearchFilters(subject=rng.choice([None, None, None, "digital", "emergency"]),
                                             hours=rng.choice(hours))
            t0 = time.perf_counter()
            result = services.search(QUERIES[i % len(QUERIES)], filters, rng.choice(sorts),
                                     rng.choice([1, 1, 1, 2, 3]), index_dir=index_dir)
            latencies.append((time.perf_counter() - t0) * 1000)
            assert result.total >= 0
        print(f"query latency over {len(latencies)} queries (facets, highlights, filters, sorts): "
              f"p50 {statistics.median(latencies):.1f} ms, p95 {percentile(latencies, 95):.1f} ms, "
              f"max {max(latencies):.1f} ms")


if __name__ == "__main__":
    main()
