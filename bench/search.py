"""Search benchmark: relevance of the judged set, index build rate and query latency.

    .venv/bin/python -m bench.search [--courses 10000] [--queries 600]

Prints, for the relevance corpus (hand-made records plus the demo courses, ``bench/relevance``)
and for a generated catalog of ``--courses`` distinct courses (``bench/corpus.py``):

* nDCG@10 and precision@5 over the graded queries, and how many must-return-nothing queries
  returned something (relevance corpus);
* query latency with facets, filters, highlights and sorts: cold (a freshly opened index, no
  result cache: a query reads the posting lists it needs unless an earlier query read them),
  then the same queries again with every posting list already read (warm), a sample of them each
  on an index opened just before it (nothing read yet), how much of the catalog the queries match,
  and the worst case (a query matching most courses) on its own.

Not part of the test suite: figures are printed, never asserted.
"""

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import corpus  # noqa: E402
from lms.search import engine, services  # noqa: E402

WORST_CASE_CANDIDATES = ["安全", "管理", "应用", "讲解"]


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def figures(label: str, latencies: list[float]) -> str:
    return (f"  {label}: n={len(latencies)} p50 {statistics.median(latencies):.2f} ms, "
            f"p95 {percentile(latencies, 95):.2f} ms, max {max(latencies):.2f} ms")


def timed_queries(queries, index_dir, rng, *, reopen: bool = False) -> list[float]:
    """Milliseconds per query, each with a random filter, sort and page. ``reopen``: every query on
    a freshly opened index, nothing read before it (its columns and posting lists included)."""
    sorts, hours = list(services.SORTS), [None, None, "1to2", "2to4"]
    latencies = []
    for query in queries:
        filters = services.SearchFilters(subject=rng.choice([None, None, None, "digital", "emergency"]),
                                         hours=rng.choice(hours))
        sort = rng.choice(sorts)
        page = rng.choice([1, 1, 1, 2, 3])
        if reopen:
            engine.close_all()
            engine.snapshot(services._live_path(index_dir))  # opening is reported on its own
        t0 = time.perf_counter()
        services.search(query, filters, sort, page, index_dir=index_dir)
        latencies.append((time.perf_counter() - t0) * 1000)
    return latencies


def match_shares(queries, index_dir, n: int) -> str:
    """How much of the catalog the queries match, without filters (counted apart from the timings)."""
    def share(group):
        totals = [services.search(q, index_dir=index_dir).total for q in group]
        return f"median {statistics.median(totals) / n * 100:.1f} %, p75 {percentile(totals, 75) / n * 100:.1f} %"

    single = [q for q in queries if " " not in q]
    several = [q for q in queries if " " in q]
    return (f"matching, without filters: {share(queries)} of the courses; one-word queries ({len(single)}) "
            f"{share(single)}, several words ({len(several)}) {share(several)}")


def relevance(index_dir) -> None:
    ndcg, precision, nonsense = [], [], []
    for judged in corpus.judgments():
        codes = [hit.code for hit in services.search(judged.query, index_dir=index_dir, per_page=10).hits]
        if not judged.grades:
            if codes:
                nonsense.append(judged.query)
            continue
        ndcg.append(corpus.ndcg_at(codes, judged.grades))
        precision.append(corpus.precision_at(codes, judged.grades))
    print(f"  relevance over {len(ndcg)} judged queries: nDCG@10 {statistics.mean(ndcg):.3f}, "
          f"precision@5 {statistics.mean(precision):.3f}; must-return-nothing queries returning something: "
          f"{len(nonsense)} of {len(corpus.judgments()) - len(ndcg)} {nonsense or ''}")


def latency(docs, index_dir, n_queries: int, rng) -> None:
    t0 = time.perf_counter()
    n = services.rebuild_index(docs, index_dir=index_dir)
    build = time.perf_counter() - t0
    print(f"  index build: {n} courses in {build:.1f} s = {n / build:.0f} courses/s")
    t0 = time.perf_counter()
    services.index_course(docs[0], index_dir=index_dir)
    print(f"  one incremental update (job body): {(time.perf_counter() - t0) * 1000:.0f} ms")
    queries = corpus.bench_queries(docs, n_queries, rng)
    engine.close_all()  # cold: the next search opens the index afresh
    t0 = time.perf_counter()
    services.search("", index_dir=index_dir)
    print(f"  opening the index (first search in a process): {(time.perf_counter() - t0) * 1000:.0f} ms")
    cold = timed_queries(queries, index_dir, random.Random(1))
    print(f"  {len(queries)} distinct queries from the corpus, with facets + filters + highlights + sorts:")
    print(figures("cold (no result cache)", cold))
    warm = timed_queries(queries, index_dir, random.Random(1))
    print(figures("warm (same queries, posting lists already read)", warm))
    sample = queries[:: max(1, len(queries) // 100)]
    print(figures("each on a freshly opened index (nothing read before it)",
                  timed_queries(sample, index_dir, random.Random(3), reopen=True)))
    print("  " + match_shares(queries, index_dir, n))
    worst = max(WORST_CASE_CANDIDATES, key=lambda q: services.search(q, index_dir=index_dir).total)
    total = services.search(worst, index_dir=index_dir).total
    worst_latencies = timed_queries([worst] * 100, index_dir, random.Random(2))
    print(figures(f"worst case “{worst}” matching {total} of {n} courses ({total / n * 100:.0f} %)", worst_latencies))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--courses", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=600)
    args = parser.parse_args()
    rng = random.Random(2026)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        services.init_jieba(Path(tmp) / "jieba-cache")
        print(f"jieba start-up: {time.perf_counter() - t0:.2f} s")
        small = corpus.relevance_documents()
        print(f"relevance corpus ({len(small)} courses):")
        latency(small, Path(tmp) / "small-index", min(args.queries, 300), rng)
        relevance(Path(tmp) / "small-index")
        print(f"generated catalog ({args.courses} courses):")
        latency(list(corpus.generate(args.courses, rng)), Path(tmp) / "search-index", args.queries, rng)
        engine.close_all()


if __name__ == "__main__":
    main()
