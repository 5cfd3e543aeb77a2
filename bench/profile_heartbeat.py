"""Profile heartbeats in-process, through the Flask test client (the same cookie, CSRF and JSON as
bench/heartbeat.lua), on a fresh SQLite database or PostgreSQL.

    .venv/bin/python -m bench.profile_heartbeat [--beats 3000] [--learners 20] [--database sqlite]
                                                [--profile cprofile|pyinstrument|none]

Prints milliseconds (wall and this process's CPU) per heartbeat and per baseline INSERT, then the profile of the heartbeats.
"""

import argparse
import json
import os
import time
from pathlib import Path

from bench.heartbeat import INSERT_PATH, USER_AGENT, prepare, scratch_database


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--beats", type=int, default=3000)
    parser.add_argument("--learners", type=int, default=20)
    parser.add_argument("--database", default="sqlite")
    parser.add_argument("--profile", default="cprofile")
    args = parser.parse_args()
    with scratch_database(args.database, "lms-profile") as (tmp, url):
        try:
            _profile(tmp, url, args)
        finally:
            os.environ.pop("DATABASE_URL", None)


def _profile(tmp: Path, url: str, args) -> None:
    env = {"DATABASE_URL": url, "LMS_INSTANCE_PATH": str(tmp / "instance"), "SECRET_KEY": "bench-secret",
           "LMS_DATA_KEY": "bench-data-key", "LMS_MEDIA_ROOT": str(tmp / "media")}
    learners_file = tmp / "learners.tsv"
    prepare(env, args.learners, learners_file)
    from bench.heartbeat import make_app

    app = make_app()
    learners = [line.split("\t") for line in learners_file.read_text().splitlines()]
    client = app.test_client(use_cookies=False)
    seqs = [0] * len(learners)

    def beat(i):
        n = i % len(learners)
        cookie, csrf, sid = learners[n]
        seqs[n] += 1
        seq = seqs[n]
        pos = seq % 28 + 1
        body = json.dumps({"session_id": sid, "seq": seq, "position": pos, "segments": [[pos - 1, pos]],
                           "rate": 1, "visible": True, "event": "tick", "csrf_token": csrf})
        response = client.post("/api/v1/learning/heartbeat", data=body, headers={
            "Content-Type": "application/json", "Cookie": cookie, "User-Agent": USER_AGENT})
        assert response.status_code == 200, response.get_data(as_text=True)
        return response

    def insert(_):
        response = client.post(INSERT_PATH, headers={"User-Agent": USER_AGENT})
        assert response.status_code == 200
        return response

    for i in range(200):  # warm-up
        beat(i)
        insert(i)
    for name, fn in (("insert", insert), ("heartbeat", beat)):
        start, cpu = time.perf_counter(), time.process_time()
        for i in range(args.beats):
            fn(i)
        print(f"{name:<10} {(time.perf_counter() - start) * 1000 / args.beats:.3f} ms per request, "
              f"{(time.process_time() - cpu) * 1000 / args.beats:.3f} ms CPU (this process)")
    print(beat(0).get_json())
    if args.profile == "cprofile":
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        profiler.enable()
        for i in range(args.beats):
            beat(i)
        profiler.disable()
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(60)
    elif args.profile == "pyinstrument":
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.0002)
        profiler.start()
        for i in range(args.beats):
            beat(i)
        profiler.stop()
        print(profiler.output_text(unicode=True, color=False, show_all=False))
    with app.app_context():
        from lms.extensions import db

        db.engine.dispose()


if __name__ == "__main__":
    main()
