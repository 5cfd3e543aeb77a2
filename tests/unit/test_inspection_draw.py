"""The inspection draw (lms/programme/draw.py): deterministic, uniform without modulo bias, never
an excluded inspector, and equal to the standalone checker scripts/verify_draw.py (a separate copy
of the algorithm with the standard library only)."""

import importlib.util
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from lms.programme import draw

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "verify_draw.py"
spec = importlib.util.spec_from_file_location("verify_draw", SCRIPT)
verify_draw = importlib.util.module_from_spec(spec)
spec.loader.exec_module(verify_draw)

SEED = "00" * 32


def document(seed, population, targets, pool, per_target, exclude):
    doc = {"format": draw.FORMAT, "commitment": draw.commitment(seed), "seed": seed, "targets": targets,
           "inspectors_per_target": per_target,
           "population": [{"id": f"T{n}", "exclude": exclude[n]} for n in range(population)],
           "pool": [{"id": f"I{n}"} for n in range(pool)]}
    doc["draw"] = draw.draw_document(doc)
    return doc


def test_the_worked_example_of_the_docstring():
    assert draw.commitment(SEED) == "60e05bd1b195af2f94112fa7197a5c88289058840ce7c6df9693756bc6250f55"
    assert draw.draw(SEED, 5, 2, 3, 1, [[]] * 5) == [(3, [1]), (1, [0])]


def test_the_same_seed_gives_the_same_draw_and_another_seed_another():
    exclude = [[n % 4] for n in range(40)]
    first = draw.draw(SEED, 40, 8, 6, 2, exclude)
    assert first == draw.draw(SEED, 40, 8, 6, 2, exclude)
    assert first != draw.draw("11" * 32, 40, 8, 6, 2, exclude)


@given(seed=st.binary(min_size=32, max_size=32).map(bytes.hex), population=st.integers(0, 30),
       targets=st.integers(0, 35), pool=st.integers(0, 8), per_target=st.integers(1, 3), data=st.data())
def test_never_an_excluded_inspector_and_the_script_agrees(seed, population, targets, pool, per_target, data):
    exclude = [data.draw(st.lists(st.integers(0, max(pool - 1, 0)), max_size=pool, unique=True))
               for _ in range(population)]
    rows = draw.draw(seed, population, targets, pool, per_target, exclude)
    assert len(rows) == min(targets, population)
    assert len({t for t, _ in rows}) == len(rows)
    for position, taken in rows:
        assert not set(taken) & set(exclude[position])
        assert len(set(taken)) == len(taken)
        eligible = pool - len(set(exclude[position]))
        assert len(taken) == min(per_target, eligible)
    doc = document(seed, population, targets, pool, per_target, exclude)
    assert verify_draw.recompute(doc) == doc["draw"]


def test_every_position_is_drawn_about_equally_often():
    counts = Counter(draw.draw(f"{n:064x}", 6, 1, 0, 1, [[]] * 6)[0][0] for n in range(3000))
    assert set(counts) == set(range(6))
    assert all(400 <= c <= 600 for c in counts.values())


def test_the_script_checks_a_document_file_and_refuses_a_wrong_seed(tmp_path):
    doc = document(SEED, 12, 4, 5, 2, [[n % 5] for n in range(12)])
    good = tmp_path / "draw.json"
    good.write_text(json.dumps(doc), encoding="utf-8")
    done = subprocess.run([sys.executable, str(SCRIPT), str(good)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout
    assert "OK" in done.stdout
    doc["seed"] = "11" * 32
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc), encoding="utf-8")
    done = subprocess.run([sys.executable, str(SCRIPT), str(bad)], capture_output=True, text=True, check=False)
    assert done.returncode == 1
    assert "commitment" in done.stdout
    doc["seed"] = SEED
    doc["draw"][0]["target"] = "T99"
    bad.write_text(json.dumps(doc), encoding="utf-8")
    done = subprocess.run([sys.executable, str(SCRIPT), str(bad)], capture_output=True, text=True, check=False)
    assert done.returncode == 1
    assert "differs" in done.stdout
