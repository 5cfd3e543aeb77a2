#!/usr/bin/env python3
"""Check a random inspection's draw (双随机、一公开) from its published document, with nothing but
the Python standard library: the revealed seed must hash to the commitment published at freeze time,
and the draw recomputed from the published population, pool and seed must equal the published draw.

    python3 scripts/verify_draw.py draw.json
    python3 scripts/verify_draw.py https://lms.example.cn/programme/inspections/7/draw.json

The algorithm (also in lms/programme/draw.py, which the platform uses; this file is an independent
copy so that nobody has to trust the platform's code):

- commitment = SHA-256 of the seed's 64 lower-case hexadecimal characters (as ASCII);
- stream(label): SHA-256(seed_hex + ":" + label + ":" + str(i)) for i = 0, 1, …, concatenated and
  read 8 bytes at a time as big-endian unsigned integers; uniform(n) rejects x ≥ 2**64 - 2**64 % n
  and returns x % n;
- targets: a = [0 … N-1]; for i in 0 … k-1: j = i + uniform(N - i) on stream "targets"; swap a[i],
  a[j]; the drawn targets are a[0 … k-1] (k = min(k, N));
- inspectors: the pool [0 … P-1] shuffled the same way with k = P on stream "inspectors"; for each
  drawn target in order, walk the shuffled pool round-robin from a cursor that starts at 0 and
  advances by one at every look, wrapping; skip an inspector in the target's "exclude" list (own
  organization) or already taken for it; stop at "inspectors_per_target" or after one full turn.

The document's "population_sha256" (when present) is the SHA-256 of {"population": …, "pool": …}
written as JSON with sorted keys and no spaces (UTF-8), published at freeze time with the
commitment: a population or pool changed afterwards does not check out.

Exit status 0 when the draw checks out, 1 when it does not (or the seed is not revealed yet), 2 when
the document cannot be read or is not a draw document.
"""

import hashlib
import json
import sys
import urllib.request


def commitment(seed_hex):
    return hashlib.sha256(seed_hex.encode("ascii")).hexdigest()


def stream(seed_hex, label):
    counter = 0
    while True:
        block = hashlib.sha256(f"{seed_hex}:{label}:{counter}".encode("ascii")).digest()
        counter += 1
        for offset in range(0, 32, 8):
            yield int.from_bytes(block[offset:offset + 8], "big")


def uniform(numbers, n):
    limit = 2**64 - (2**64 % n)
    for x in numbers:
        if x < limit:
            return x % n
    raise AssertionError("unreachable")


def shuffled(numbers, n, k):
    a = list(range(n))
    for i in range(min(k, n)):
        j = i + uniform(numbers, n - i)
        a[i], a[j] = a[j], a[i]
    return a[:min(k, n)]


def recompute(document):
    seed, population, pool = document["seed"], document["population"], document["pool"]
    per_target = document["inspectors_per_target"]
    drawn = shuffled(stream(seed, "targets"), len(population), document["targets"])
    order = shuffled(stream(seed, "inspectors"), len(pool), len(pool))
    rows, cursor = [], 0
    for position in drawn:
        barred, taken = set(population[position]["exclude"]), []
        for _ in range(len(pool)):
            if len(taken) >= per_target:
                break
            candidate = order[cursor]
            cursor = (cursor + 1) % len(pool)
            if candidate not in barred and candidate not in taken:
                taken.append(candidate)
        rows.append({"target": population[position]["id"], "inspectors": [pool[i]["id"] for i in taken]})
    return rows


def population_digest(document):
    """SHA-256 of the published population and pool (JSON, sorted keys, no spaces, UTF-8)."""
    text = json.dumps({"population": document["population"], "pool": document["pool"]}, ensure_ascii=False,
                      sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _is_hex64(value):
    return isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value)


def _is_count(value):
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def shape_problem(document):
    """Why the document is not one this script can check (None: it is)."""
    if not isinstance(document, dict):
        return "the document is not a JSON object"
    if not _is_hex64(document.get("commitment")):
        return "'commitment' is not 64 lower-case hexadecimal characters"
    seed = document.get("seed")
    if seed is not None and not _is_hex64(seed):
        return "'seed' is neither null nor 64 lower-case hexadecimal characters"
    for key in ("targets", "inspectors_per_target"):
        if not _is_count(document.get(key)):
            return f"'{key}' is not a whole number"
    population, pool = document.get("population"), document.get("pool")
    if not isinstance(pool, list) or not all(isinstance(m, dict) and isinstance(m.get("id"), str) for m in pool):
        return "'pool' is not a list of objects with an 'id'"
    if not isinstance(population, list) or not all(
            isinstance(e, dict) and isinstance(e.get("id"), str) and isinstance(e.get("exclude"), list)
            and all(_is_count(i) and i < len(pool) for i in e["exclude"]) for e in population):
        return "'population' is not a list of objects with an 'id' and an 'exclude' list of pool positions"
    digest = document.get("population_sha256")
    if digest is not None and not _is_hex64(digest):
        return "'population_sha256' is neither absent nor 64 hexadecimal characters"
    draw = document.get("draw")
    if seed is not None and not isinstance(draw, list):
        return "the seed is revealed but 'draw' is not a list"
    return None


def load(source):
    if source.startswith(("http://", "https://")):
        with urllib.request.urlopen(source, timeout=30) as response:  # noqa: S310 (a URL the user gives)
            return json.load(response)
    with open(source, encoding="utf-8") as handle:
        return json.load(handle)


def main(argv):
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[0])
        print("usage: verify_draw.py FILE_OR_URL")
        return 2
    try:
        document = load(argv[1])
    except (OSError, ValueError, UnicodeError) as error:
        print(f"cannot read {argv[1]}: {error}")
        return 2
    problem = shape_problem(document)
    if problem:
        print(f"cannot check {argv[1]}: {problem}")
        return 2
    digest = document.get("population_sha256")
    if digest is not None and population_digest(document) != digest:
        print("FAIL: the population and pool differ from those published at freeze time (population_sha256)")
        return 1
    seed = document["seed"]
    if seed is None:
        print("the seed is not revealed yet: nothing to check but the commitment", document["commitment"])
        return 1
    if commitment(seed) != document["commitment"]:
        print("FAIL: SHA-256 of the seed is not the commitment published at freeze time")
        return 1
    rows = recompute(document)
    print(json.dumps(rows, ensure_ascii=False, indent=1))
    if rows != document.get("draw"):
        print("FAIL: the recomputed draw differs from the published draw")
        return 1
    print(f"OK: commitment matches and the draw of {len(rows)} targets is reproduced")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
