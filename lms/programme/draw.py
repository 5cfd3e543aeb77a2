"""The draw of a random inspection (双随机): a deterministic function of the published population,
the published inspector pool and the revealed seed, so that anyone can recompute it. The standalone
checker ``scripts/verify_draw.py`` implements the same algorithm with the standard library only; a
test runs it on a plan's published document and compares.

Commit-then-reveal. When a plan is frozen, the platform draws a 32-byte random seed and publishes
its commitment ``SHA-256(seed_hex)`` (the seed written as 64 lower-case hexadecimal characters,
hashed as ASCII) together with the ordered population and pool. The draw happens only when the seed
is revealed, and a seed whose hash is not the commitment is refused: nobody can try seeds until a
draw suits them, because the population and the commitment are fixed before anyone (the office
included) can see a draw.

Random stream. ``block(label, i) = SHA-256(seed_hex + ":" + label + ":" + str(i))`` for
i = 0, 1, 2, …, hashed as ASCII; the stream is the concatenation of the blocks, read 8 bytes at a
time as unsigned big-endian integers. ``label`` is ``"targets"`` or ``"inspectors"`` (two independent
streams). ``uniform(n)`` takes the next integer ``x`` and returns ``x mod n`` unless
``x ≥ 2**64 - (2**64 mod n)`` (then it is rejected and the next integer taken: no modulo bias).

Targets. Positions ``a = [0, 1, …, N-1]`` of the published population; for ``i`` in ``0 … k-1``:
``j = i + uniform(N - i)`` on the ``targets`` stream, swap ``a[i]`` and ``a[j]`` (a partial
Fisher–Yates shuffle). The drawn targets are ``a[0 … k-1]`` in that order (k = min(k, N)).

Inspectors. The pool ``p = [0 … P-1]`` (published order) is shuffled completely the same way on the
``inspectors`` stream (``i`` in ``0 … P-1``, k = P). Then, for each drawn target in order, inspectors are
taken from the shuffled pool round-robin from a cursor (starting at 0): the inspector at the cursor
is skipped if the target's published ``exclude`` list names them (an inspector of the target's own
organization, or the learner of a credit record: separation of duties) or if already taken for this
target; otherwise taken; the cursor moves on by one either way, wrapping around. Each target gets
``m`` inspectors, or as many as are eligible after one full turn of the pool (fewer than ``m``
eligible: the target gets fewer, and the document says so).

Worked example: seed ``"00"*32``, N = 5, k = 2, P = 3, m = 1 — see tests/unit/test_inspection_draw.py.
"""

import hashlib
from collections.abc import Sequence

FORMAT = "gongxu-inspection-draw/1"


def commitment(seed_hex: str) -> str:
    return hashlib.sha256(seed_hex.encode("ascii")).hexdigest()


class Stream:
    """The SHA-256 counter-mode stream of ``seed_hex`` under ``label``."""

    def __init__(self, seed_hex: str, label: str):
        self.seed_hex, self.label, self.counter, self.buffer = seed_hex, label, 0, b""

    def _next64(self) -> int:
        if len(self.buffer) < 8:
            block = f"{self.seed_hex}:{self.label}:{self.counter}".encode("ascii")
            self.buffer += hashlib.sha256(block).digest()
            self.counter += 1
        value, self.buffer = int.from_bytes(self.buffer[:8], "big"), self.buffer[8:]
        return value

    def uniform(self, n: int) -> int:
        limit = 2**64 - (2**64 % n)
        while True:
            x = self._next64()
            if x < limit:
                return x % n


def shuffle_prefix(stream: Stream, n: int, k: int) -> list[int]:
    """The first ``k`` positions of ``0 … n-1`` after a partial Fisher–Yates shuffle."""
    a = list(range(n))
    for i in range(min(k, n)):
        j = i + stream.uniform(n - i)
        a[i], a[j] = a[j], a[i]
    return a[:min(k, n)]


def draw(seed_hex: str, population_size: int, targets: int, pool_size: int, per_target: int,
         exclude: Sequence[Sequence[int]]) -> list[tuple[int, list[int]]]:
    """The drawn targets (population positions, in draw order), each with its inspectors (pool positions).
    ``exclude[position]`` lists the pool positions that may not inspect that population entry."""
    drawn = shuffle_prefix(Stream(seed_hex, "targets"), population_size, targets)
    order = shuffle_prefix(Stream(seed_hex, "inspectors"), pool_size, pool_size)
    result, cursor = [], 0
    for position in drawn:
        barred, taken = set(exclude[position]), []
        for _step in range(pool_size):
            if len(taken) >= per_target:
                break
            candidate = order[cursor]
            cursor = (cursor + 1) % pool_size
            if candidate not in barred and candidate not in taken:
                taken.append(candidate)
        result.append((position, taken))
    return result


def draw_document(document: dict) -> list[dict]:
    """The draw of a published document (see ``published_document`` in lms/programme/inspections.py):
    ``[{"target": population id, "inspectors": [pool ids]}, …]``."""
    population, pool = document["population"], document["pool"]
    rows = draw(document["seed"], len(population), document["targets"], len(pool),
                document["inspectors_per_target"], [entry["exclude"] for entry in population])
    return [{"target": population[t]["id"], "inspectors": [pool[i]["id"] for i in taken]} for t, taken in rows]
