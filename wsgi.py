"""The app as served (``gunicorn -c deploy/gunicorn.conf.py wsgi:app``) and as the ``flask`` command
loads it (``FLASK_APP=wsgi``). Served, a production node refuses to start without what every node
shares (``lms.ready_to_serve``); the command line may, since its ``flask credentials rotate-key``
makes the first signing key."""

import click

from lms import create_app, ready_to_serve

app = create_app()
if click.get_current_context(silent=True) is None:  # not loaded by the flask command
    ready_to_serve(app)
