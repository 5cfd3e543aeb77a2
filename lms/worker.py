"""The job worker's entry point: builds the app (which registers every domain's tasks and points the
queues at its configuration), then offers the queues to ``huey_consumer``::

    huey_consumer lms.worker.huey -w 1 -k thread         # default queue (search index, short jobs)
    huey_consumer lms.worker.media_huey -w 1 -k thread   # video transcoding

The app is configured from the environment, as the web app is (``DATABASE_URL``, ``REDIS_URL``,
``LMS_JOBS_FILE``, ``LMS_INSTANCE_PATH``...)."""

from . import create_app, ready_to_serve
from .core.jobs import QUEUES

app = ready_to_serve(create_app())
huey = QUEUES["default"]
media_huey = QUEUES["media"]
