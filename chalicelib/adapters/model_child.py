"""The model child (model_process.py): loads MiniLM once, says READY, then encodes one request at a
time from its socket until the parent closes it."""

from __future__ import annotations

import json
import signal
import sys
from multiprocessing.connection import Connection


def main(argv: list[str]) -> None:
    fd, batch_size, threads = (int(value) for value in argv[:3])
    precision = argv[3]
    # Ctrl-C in a terminal reaches the whole process group: the parent decides when its child ends.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    connection = Connection(fd)
    import numpy

    from chalicelib.adapters.local_embedders import MiniLMEmbedder

    embedder = MiniLMEmbedder(batch_size=batch_size, threads=threads or None, precision=precision)
    embedder.encode_counted(["warm up"])  # loads the weights before READY, not on the first document
    connection.send_bytes(json.dumps({"dimensions": embedder.dimensions}).encode())
    while True:
        try:
            texts = json.loads(connection.recv_bytes())
        except EOFError:  # the parent closed the socket (or died)
            return
        try:
            vectors, tokens = embedder.encode_counted(texts)
        except Exception as error:  # reported to the parent, which retries the document
            print(f"model child: {error!r}", file=sys.stderr, flush=True)
            connection.send_bytes(json.dumps({"error": repr(error)}).encode())
            continue
        connection.send_bytes(json.dumps({"tokens": tokens}).encode())
        connection.send_bytes(numpy.asarray(vectors, dtype=numpy.float32).tobytes())
