"""An S3-protocol server on loopback for the tests: moto's standalone server, in a process of its own,
spoken to over HTTP by the same boto3 client the platform uses in production against MinIO, Ceph RGW
or Alibaba OSS. (moto does not enforce the expiry of presigned URLs: tests check their X-Amz-Expires.)
"""

import os
import subprocess
import sys
import uuid
from contextlib import contextmanager
from pathlib import Path

from tests.app_process import free_port, wait_until_up

CREDENTIALS = {"AWS_ACCESS_KEY_ID": "lms-test-key", "AWS_SECRET_ACCESS_KEY": "lms-test-secret",
               "AWS_DEFAULT_REGION": "us-east-1"}


@contextmanager
def s3_server(log: Path):
    """Start ``moto.server`` on a free loopback port; yields its endpoint URL; stops it afterwards."""
    port = free_port()
    with open(log, "ab") as out:
        process = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                                   stdout=out, stderr=subprocess.STDOUT)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(endpoint, process, log, path="/moto-api/")
        yield endpoint
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def aws_credentials():
    """The standard AWS_* variables boto3 reads, set for the duration (restored afterwards)."""
    saved = {name: os.environ.get(name) for name in CREDENTIALS}
    os.environ.update(CREDENTIALS)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def new_bucket(endpoint: str) -> str:
    import boto3

    name = f"lms-test-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=name)
    return name


def stopped_endpoint() -> str:
    """An address where nothing listens (a storage server that is down)."""
    return f"http://127.0.0.1:{free_port()}"
