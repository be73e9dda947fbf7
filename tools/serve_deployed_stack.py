"""A "deployed" mailroom stack on a moto server, for checking the operator CLI from outside (CI).

Starts moto on a free loopback port, creates a CloudFormation stack ``mailroom-prod`` whose outputs
name a status table with two emails (one delivered, one failed at Archive), prints the port on
stdout, and serves until its standard input closes. Runs in the dev venv (it needs moto); the CLI
under test runs in another venv, without moto.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import boto3
from moto.server import ThreadedMotoServer

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from deployed_stack import populate

REGION = "eu-west-1"
CREDENTIALS = {"aws_access_key_id": "check", "aws_secret_access_key": "check", "region_name": REGION}


def main() -> None:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # a line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    port = server.get_host_and_port()[1]
    try:
        endpoint = f"http://127.0.0.1:{port}"
        populate(
            boto3.client("dynamodb", endpoint_url=endpoint, **CREDENTIALS),
            boto3.client("cloudformation", endpoint_url=endpoint, **CREDENTIALS),
        )
        print(port, flush=True)
        sys.stdin.read()  # until the caller closes our input
    finally:
        server.stop()


if __name__ == "__main__":
    main()
