"""python -m devstack up | ingest DIR | redrive | reembed --model NAME | backfill [--prefix P]"""

from __future__ import annotations

import argparse
import getpass
import os
from pathlib import Path

from devstack.identity import DEFAULT_USERS

DEMO_PASSWORD = DEFAULT_USERS.split(":")[1]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m devstack", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", help="run moto, the API and the worker until Ctrl-C")
    up.add_argument("--stage", default="local")
    up.add_argument("--host", default="127.0.0.1")
    up.add_argument("--port", type=int, default=8000)
    ingest = commands.add_parser("ingest", help="upload every file under DIR through the API")
    ingest.add_argument("folder", type=Path)
    ingest.add_argument("--api", default="http://127.0.0.1:8000")
    ingest.add_argument("--no-wait", action="store_true")
    ingest.add_argument("--username", default=os.environ.get("QUARRY_USERNAME", "demo"))
    redrive = commands.add_parser("redrive", help="move dead-lettered messages back to the ingest queue")
    redrive.add_argument("--stage", default="local")
    reembed = commands.add_parser("reembed", help="re-embed the live index with another model, then switch")
    reembed.add_argument("--model", required=True, choices=("minilm", "hashing", "titan"))
    reembed.add_argument("--stage", default="local")
    backfill = commands.add_parser(
        "backfill", help="ingest every object already in the raw bucket (or under --prefix), idempotently"
    )
    backfill.add_argument("--stage", default="local")
    backfill.add_argument("--prefix", default="", help="only keys under this, e.g. tenants/acme/")
    backfill.add_argument("--bucket", help="the raw bucket (default: QUARRY_RAW_BUCKET)")
    backfill.add_argument("--queue", help="the ingest queue's name (default: QUARRY_INGEST_QUEUE)")
    args = parser.parse_args()

    if args.command == "up":
        from devstack.runner import up as run

        run(args.stage, args.host, args.port)
    elif args.command == "reembed":
        from devstack.reembed import reembed as run_reembed
        from devstack.stage import apply_stage

        apply_stage(args.stage)
        run_reembed(args.model)
    elif args.command == "backfill":
        from devstack.backfill import run as run_backfill

        run_backfill(args.stage, args.prefix, args.bucket, args.queue)
    elif args.command == "ingest":
        from devstack.client import ApiClient, ingest_folder

        password = os.environ.get("QUARRY_PASSWORD") or (
            DEMO_PASSWORD if args.username == "demo" else getpass.getpass(f"password for {args.username}: ")
        )
        api = ApiClient(args.api).sign_in(args.username, password)
        ingest_folder(args.folder, api, wait=not args.no_wait)
    else:
        from chalicelib.config import settings
        from devstack.cloud import clients
        from devstack.redrive import redrive as move
        from devstack.stage import apply_stage

        apply_stage(args.stage)
        conf = settings()
        sqs = clients(conf)["sqs"]
        moved = move(
            sqs,
            sqs.get_queue_url(QueueName=conf.dead_letter_queue)["QueueUrl"],
            sqs.get_queue_url(QueueName=conf.ingest_queue)["QueueUrl"],
        )
        print(f"moved {moved} message(s) back to {conf.ingest_queue}")


if __name__ == "__main__":
    main()
