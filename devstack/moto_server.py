"""moto server in a child process of the local stack, with its SQS made depth-independent (moto_sqs.py)
and its DynamoDB item operations applied one at a time (moto_dynamodb.py), served by cheroot so that
clients keep their connections (`serve`).

In the stack's own interpreter moto shared one interpreter lock with the API, the poller and the
worker's model: every S3 read and catalog write waited for the encoder and the encoder for them. In
its own process it runs on the other core. The child exits when its parent does, so a killed stack
leaves no server holding the port.
"""

from __future__ import annotations

import argparse
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
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()

    serve(args.host, args.port)


# Threads serving moto's requests. cheroot parks an idle kept-alive connection without a thread, so
# these bound only the requests in progress, long polls (ReceiveMessage waits) included.
_SERVER_THREADS = 16


def serve(host: str, port: int) -> None:
    """moto's WSGI app on cheroot, which keeps HTTP/1.1 connections open between requests.

    `moto.server` runs werkzeug's development server, which closes the connection after every
    response: each request cost the client a new TCP connection and the server a new thread, ~11% of
    the stack's CPU during ingest (py-spy, 40 s of a 1,500-document run).
    """
    from cheroot import wsgi
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    # moto builds some URLs (SQS queue URLs) from MOTO_PORT, as its own server sets it.
    os.environ.setdefault("MOTO_PORT", str(port))
    app = _remembering_dispatcher(DomainDispatcherApplication)(create_backend_app)
    app.debug = True  # as moto.server sets it
    server = wsgi.Server((host, port), app, numthreads=_SERVER_THREADS)
    server.gateway = _moto_gateway(wsgi.Gateway_10)
    server.safe_start()


# Hosts a dispatcher remembers the backend of; a local client names a handful (service and region).
_REMEMBERED_HOSTS = 256


def _remembering_dispatcher(base: type) -> type:
    """moto's dispatcher, remembering which backend serves each host it has seen.

    For every request moto looks the host up afresh, under one lock for all requests: it lists moto's
    package folder (an isdir for each of ~200 services) and then tries up to ~180 URL patterns, one
    after another. S3's host matches only the 140th, so every S3 request paid nearly the whole search. The
    answer depends on the host alone, and moto's services do not change while the server runs.
    """

    class RememberingDispatcher(base):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self._backends: dict[str | None, object] = {}

        def get_backend_for_host(self, host):
            # Called under the dispatcher's own lock (get_application), so the dict needs none.
            if host in self._backends:
                return self._backends[host]
            backend = super().get_backend_for_host(host)
            if len(self._backends) < _REMEMBERED_HOSTS:
                self._backends[host] = backend
            return backend

    return RememberingDispatcher


def _moto_gateway(base: type) -> type:
    """cheroot's WSGI gateway, building the environ moto's own server builds.

    - RAW_URI, the request target as sent, which werkzeug sets and cheroot does not: moto reads S3 keys
      from it, and from PATH_INFO, already decoded, it would decode a key's `%20` a second time.
    - moto.moto_server.werkzeug_app.MotoRequestHandler records, for each `x-amz-meta-` header whose
      name has an underscore, the name as sent, so `x-amz-meta-corpus_id` keeps its key `corpus_id`
      instead of becoming `corpus-id`. cheroot folds such a header into the environ like any other;
      this adds the same record of its name.
    """
    from moto.core.request import (
        PRESERVED_HEADER_NAMES_ENVIRON_KEY,
        environ_key_for_header,
        should_preserve_original_header_name,
    )

    class MotoGateway(base):
        def get_environ(self):
            environ = super().get_environ()
            environ.setdefault("RAW_URI", environ["REQUEST_URI"])
            names = [name.decode("iso-8859-1") for name in self.req.inheaders]
            dashed = {environ_key_for_header(name) for name in names if "_" not in name}
            environ[PRESERVED_HEADER_NAMES_ENVIRON_KEY] = {
                environ_key_for_header(name): name
                for name in names
                if should_preserve_original_header_name(name) and environ_key_for_header(name) not in dashed
            }
            return environ

    return MotoGateway


if __name__ == "__main__":
    main()
