"""moto server in a child process of the local stack, with its SQS made depth-independent (moto_sqs.py)
and its DynamoDB item operations applied one at a time (moto_dynamodb.py).

In the stack's own interpreter moto shared one interpreter lock with the API, the poller and the
worker's model: every S3 read and catalog write waited for the encoder and the encoder for them. In
its own process it runs on the other core. The child exits when its parent does, so a killed stack
leaves no server holding the port.
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

REPO_ROOT = Path(__file__).resolve().parents[1]


class MotoProcess:
    def __init__(self, endpoint_url: str, start_timeout_s: float = 60.0):
        parsed = urlparse(endpoint_url)
        self.host = parsed.hostname or "127.0.0.1"
        self.port = parsed.port or 5000
        self.start_timeout_s = start_timeout_s
        self._process: subprocess.Popen | None = None

    def start(self) -> MotoProcess:
        command = [
            sys.executable,
            "-m",
            "devstack.moto_server",
            "--host",
            self.host,
            "--port",
            str(self.port),
        ]
        self._process = subprocess.Popen(command, cwd=REPO_ROOT)
        deadline = time.monotonic() + self.start_timeout_s
        while not _listening(self.host, self.port):
            if self._process.poll() is not None:
                raise RuntimeError(f"moto server exited with {self._process.returncode} before listening")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(
                    f"moto server not listening on {self.host}:{self.port} after {self.start_timeout_s} s"
                )
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        if self._process is None or self._process.poll() is not None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()


def _listening(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def _exit_with_parent(parent_pid: int) -> None:
    while os.getppid() == parent_pid:
        time.sleep(1)
    os._exit(0)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)

    from devstack import moto_dynamodb, moto_sqs

    moto_sqs.apply()
    moto_dynamodb.apply()
    # One line per request would drown the stack's own structured logs.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()

    from moto.server import main as moto_main

    moto_main(["--host", args.host, "--port", str(args.port)])


if __name__ == "__main__":
    main()
