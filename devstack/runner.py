"""`make local`: the whole system in one foreground process until Ctrl-C.

moto server (S3, EventBridge, SQS, DynamoDB) + the Chalice app's own local HTTP server + the SQS
pollers invoking the Chalice worker and the delayed sweep, and the reaper's schedule
(devstack/scheduler.py). API and worker share one process so the embedding model is loaded once. The
end-to-end tests start the same LocalStack.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import urllib.request
from pathlib import Path

from chalicelib import bootstrap
from devstack.cloud import Resources, clients, provision, start_moto
from devstack.identity import DEFAULT_USERS, parse_users, provision_user_pool
from devstack.poller import QueuePoller
from devstack.scheduler import Scheduler
from devstack.stage import load_app
from devstack.web import serve_api_and_page


def reset_local_state(home: Path) -> None:
    """moto keeps its state in memory only, so each run starts empty; the index must too, or search
    would return documents the catalog has never heard of."""
    home.mkdir(parents=True, exist_ok=True)
    # index.sqlite3 and the files re-embeds built (index-<model>-<time>.sqlite3), and the pointer.
    for path in [*home.glob("index.sqlite3*"), *home.glob("index-*.sqlite3*"), *home.glob("index.current*")]:
        path.unlink()


class LocalStack:
    def __init__(
        self, stage: str = "local", host: str = "127.0.0.1", port: int = 8000, visibility_timeout_s: int = 30
    ):
        self.stage = stage
        self.host = host
        self.port = port
        self.visibility_timeout_s = visibility_timeout_s
        self.stop_event = threading.Event()
        self.resources: Resources | None = None
        self._threads: list[threading.Thread] = []

    @property
    def api_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> LocalStack:
        # moto's request log would drown the app's own structured logs.
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        _, config, app = load_app(self.stage)
        from chalicelib.config import settings

        conf = settings()
        if not conf.aws_endpoint_url:
            raise SystemExit(
                "the local stack needs QUARRY_AWS_ENDPOINT_URL (the moto server): see .chalice/config.json"
            )
        reset_local_state(conf.home_path)
        self._moto = start_moto(conf.aws_endpoint_url)
        # moto keeps its state per process, not per server: a stack started in a process that already
        # ran one (the test suite) would find that one's queues and tables. A new stack starts empty.
        urllib.request.urlopen(
            urllib.request.Request(f"{conf.aws_endpoint_url}/moto-api/reset", method="POST")
        )
        self.resources = provision(conf, self.visibility_timeout_s)
        self.users = parse_users(os.environ.get("QUARRY_LOCAL_USERS") or DEFAULT_USERS)
        self.user_pool = provision_user_pool(conf.aws_endpoint_url, conf.region, self.users)
        # The pool's ids are moto's, known only now: point the app's token check at them.
        os.environ.update(self.user_pool.app_settings())
        settings.cache_clear()
        bootstrap.reset()
        self._server = serve_api_and_page(app, config, self.host, self.port)
        self.poller = QueuePoller(
            clients(conf)["sqs"],
            self.resources.queue_url,
            self.resources.queue_arn,
            app.handler_map["ingest"],
            conf.region,
            invocations=conf.local_worker_invocations,
        )
        self.sweep_poller = QueuePoller(
            clients(conf)["sqs"],
            self.resources.sweep_queue_url,
            self.resources.sweep_queue_arn,
            app.handler_map["sweep"],
            conf.region,
            timeout_s=60,
            function_name="quarry-sweep",
        )
        # The reaper on the same rate as in AWS (QUARRY_REAPER_INTERVAL_MINUTES), read from the app's
        # own schedule settings.
        self.reaper = Scheduler(
            "reap_abandoned",
            app.handler_map["reap_abandoned"],
            conf.reaper_interval_minutes * 60,
            conf.region,
        )
        self._threads = [
            threading.Thread(target=self._server.serve_forever, name="api", daemon=True),
            threading.Thread(target=self.poller.run, args=(self.stop_event,), name="worker", daemon=True),
            threading.Thread(
                target=self.sweep_poller.run, args=(self.stop_event,), name="sweep", daemon=True
            ),
            threading.Thread(target=self.reaper.run, args=(self.stop_event,), name="reaper", daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        print(
            f"local cloud (moto) on {conf.aws_endpoint_url}: buckets {conf.raw_bucket}, "
            f"{conf.processed_bucket}; queue {conf.ingest_queue} (DLQ {conf.dead_letter_queue}), sweeps on "
            f"{conf.sweep_queue} after {conf.sweep_delay_s} s; "
            f"table {conf.documents_table}; state in {conf.home_path}",
            flush=True,
        )
        for user in self.users:
            print(
                f"user {user.username!r} (password {user.password!r}, tenant {user.tenant!r}) in pool "
                f"{self.user_pool.pool_id}, app client {self.user_pool.client_id}",
                flush=True,
            )
        print(f"API and web page on {self.api_url} (stage {self.stage}); Ctrl-C stops everything", flush=True)
        return self

    def stop(self) -> None:
        self.stop_event.set()
        self._server.shutdown()
        for thread in self._threads:
            thread.join(timeout=30)
        self._moto.stop()


def up(stage: str = "local", host: str = "127.0.0.1", port: int = 8000) -> None:
    stack = LocalStack(stage, host, port).start()
    signal.signal(signal.SIGTERM, lambda *_: stack.stop_event.set())
    try:
        while not stack.stop_event.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        stack.stop()
        print("stopped", flush=True)
