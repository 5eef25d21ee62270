"""The model child (model_process.py): loads MiniLM, says READY, then serves each of its sockets in a
thread of its own, one request at a time on each, until the parent closes them.

Each socket has its own copy of the model: a fast tokenizer shared by two threads can fail with
"Already borrowed" (transformers sets its truncation on every call while another call holds it:
huggingface/tokenizers#537). A second copy and its thread raised the benchmark stack's peak by
~270 MB (2.65 against 2.38 GB); a second process would bring its own torch (this one is ~1.36 GB
resident). torch releases the interpreter lock inside each operator, so two requests, each on one
torch thread, keep two cores busy.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
from multiprocessing.connection import Connection
from typing import Any


def main(argv: list[str]) -> None:
    connections = [Connection(int(fd)) for fd in argv[0].split(",")]
    batch_size, threads = int(argv[1]), int(argv[2])
    precision = argv[3]
    # Ctrl-C in a terminal reaches the whole process group: the parent decides when its child ends.
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    from chalicelib.adapters.local_embedders import MiniLMEmbedder

    embedders = [
        MiniLMEmbedder(batch_size=batch_size, threads=threads or None, precision=precision)
        for _ in connections
    ]
    for embedder in embedders:
        embedder.encode_counted(["warm up"])  # loads the weights before READY, not on the first document
    connections[0].send_bytes(json.dumps({"dimensions": embedders[0].dimensions}).encode())
    for connection, embedder in zip(connections[1:], embedders[1:], strict=True):
        threading.Thread(target=serve, args=(connection, embedder), daemon=True).start()
    # The first socket in this thread: when the parent closes it (or dies), the process ends.
    serve(connections[0], embedders[0])


def serve(connection: Connection, embedder: Any) -> None:
    import numpy

    while True:
        try:
            texts = json.loads(connection.recv_bytes())
        except (EOFError, OSError):  # the parent closed the socket (or died)
            return
        try:
            vectors, tokens = embedder.encode_counted(texts)
        except Exception as error:  # reported to the parent, which retries the document
            print(f"model child: {error!r}", file=sys.stderr, flush=True)
            connection.send_bytes(json.dumps({"error": repr(error)}).encode())
            continue
        connection.send_bytes(json.dumps({"tokens": tokens}).encode())
        connection.send_bytes(numpy.asarray(vectors, dtype=numpy.float32).tobytes())
