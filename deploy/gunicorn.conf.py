"""gunicorn settings for the platform: ``gunicorn -c deploy/gunicorn.conf.py wsgi:app``.

Metrics under several workers (lms/core/metrics.py): prometheus-client counts in each worker
process and adds them up at a scrape only when ``PROMETHEUS_MULTIPROC_DIR`` names a folder shared
by the workers, set before any of them imports the app. This file sets it (to
``<instance>/prometheus`` unless the environment names one), empties it when the server starts
(counts of an earlier run must not add to this one's), and marks a worker's files dead when the
worker exits (``child_exit``), so that its gauges (if any) no longer count.

Any setting here can be overridden on the command line (``-w 8 -b 0.0.0.0:8000``) or with
``GUNICORN_CMD_ARGS``. Sync workers: the heartbeat is short, the database does the waiting.
"""

import os
from pathlib import Path

bind = "127.0.0.1:8000"
workers = 2
worker_class = "sync"
timeout = 60
# The app writes one line per request itself (LMS_ACCESS_LOG), in LMS_LOG_FORMAT and with the
# request id; gunicorn's own access log would repeat it without, so it stays off.
accesslog = None
errorlog = "-"
os.environ.setdefault("LMS_ACCESS_LOG", "1")

_instance = Path(os.environ.get("LMS_INSTANCE_PATH") or Path(__file__).resolve().parent.parent / "instance")
multiprocess_dir = Path(os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", str(_instance / "prometheus")))


def on_starting(server):
    """Before the first worker: a clean folder for this run's counts."""
    multiprocess_dir.mkdir(parents=True, exist_ok=True)
    for stale in multiprocess_dir.glob("*.db"):
        stale.unlink()


def child_exit(server, worker):
    """A worker has exited: its live gauges stop counting (its counters' totals are kept)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
