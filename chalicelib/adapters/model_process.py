"""The local model in a process of its own (QUARRY_LOCAL_ENCODER_PROCESS, on in the local stage).

torch runs each operator in C++, but it is Python that calls the next one, so between operators the
model needs this interpreter's lock; in the local stack the same interpreter serves the API, the
pollers, boto3's requests and the local extractor, all pure Python. Measured on the benchmark
machine (docs/BENCHMARKS.md, section 2): one encoder thread took 13.2 s for the chunks of 120 SciFact
abstracts alone, 43.3 s beside one thread running the local extractor, and 12.4 s with the extractor
in another process. In a child of its own the model waits for nobody's lock.

The child (model_child.py) is started as the parser children are (chalicelib/child_process.py,
which says why: subprocess of `python -c` and a socketpair, no fork of a threaded process, nothing
that needs /dev/shm), on first use, and again after it died; callers take turns on its socket, one
request at a time, so the model gets all its threads for each. A request is the texts as JSON; the
reply a JSON header (the word pieces read, or an error) and the vectors as float32 bytes.

The child inherits the environment; the local stage sets OMP_WAIT_POLICY=PASSIVE in it
(.chalice/config.json). By default OpenMP's threads spin for a while after every operator, and
between requests that spinning took the cores the API, moto and the extractor need (measured: the
stack's CPU for 300 documents went from 44 to 73 core-seconds with two spinning threads).
"""

from __future__ import annotations

import array
import json
import threading
import weakref

from chalicelib.child_process import start_child, stop_child, wait_until_ready
from chalicelib.model import TransientError

# Loading torch and the weights: seconds; a child that has not said READY by then is broken.
_START_TIMEOUT_S = 120
# One request is at most one document's chunks (QUARRY_MAX_CHUNKS): minutes at worst. A child silent
# for longer is stuck, and the worker's claim on the document would run out first.
_REQUEST_TIMEOUT_S = 600


class ModelProcessFailed(TransientError):
    """The model child could not start, or stopped mid-request: not the document's fault, so it is
    retried (the next request starts a new child)."""


class _ModelRaised(ModelProcessFailed):
    """The model raised inside the child, which said so and is ready for the next request."""


class ModelProcess:
    def __init__(self, batch_size: int, threads: int | None, precision: str):
        self._arguments = [str(batch_size), str(threads or 0), precision]
        self._lock = threading.Lock()
        # The one place the child is kept: a list, so the finalizer that kills it when this object goes
        # sees whichever child is current.
        self._slot: list[_Child | None] = [None]
        weakref.finalize(self, _stop, self._slot)

    @property
    def _child(self) -> _Child | None:
        return self._slot[0]

    def encode(self, texts: list[str]) -> tuple[list[list[float]], int]:
        """The unit vectors of `texts` and the word pieces the model read."""
        with self._lock:
            child = self._child
            if child is None or not child.alive:
                child = self._start()
            try:
                return child.encode(texts)
            except _ModelRaised:
                raise  # the child answered, so the conversation is still in step: it serves the next one
            except BaseException as error:
                # Mid-conversation: the next request could read this one's reply, so the child goes.
                self.close_child()
                if isinstance(error, (EOFError, OSError)):
                    raise ModelProcessFailed(f"the model process stopped mid-request: {error!r}") from error
                raise

    @property
    def pid(self) -> int | None:
        """The live child's process id (tests, the benchmark), or None before the first request."""
        return self._child.process.pid if self._child is not None and self._child.alive else None

    def close(self) -> None:
        with self._lock:
            self.close_child()

    def close_child(self) -> None:
        """Kill the current child, if any (the caller holds the lock)."""
        _stop(self._slot)

    def _start(self) -> _Child:
        self.close_child()
        self._slot[0] = _Child(self._arguments)
        return self._slot[0]


class _Child:
    def __init__(self, arguments: list[str]):
        self.process, self.connection = start_child("chalicelib.adapters.model_child", arguments)
        self.dimensions = wait_until_ready(
            self.process,
            self.connection,
            _START_TIMEOUT_S,
            lambda ready: int(json.loads(ready)["dimensions"]),
            ModelProcessFailed,
            "model process",
        )

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def encode(self, texts: list[str]) -> tuple[list[list[float]], int]:
        self.connection.send_bytes(json.dumps(texts).encode("utf-8"))
        if not self.connection.poll(_REQUEST_TIMEOUT_S):
            raise ModelProcessFailed(f"the model process did not answer within {_REQUEST_TIMEOUT_S} s")
        header = json.loads(self.connection.recv_bytes())
        if "error" in header:
            # The model raised (a bug, not a file's content: any text encodes): retried.
            raise _ModelRaised(f"the model process failed: {header['error']}")
        flat = array.array("f")
        flat.frombytes(self.connection.recv_bytes())
        values = flat.tolist()
        size = self.dimensions
        return [values[i * size : (i + 1) * size] for i in range(len(texts))], int(header["tokens"])

    def kill(self) -> None:
        stop_child(self.process, self.connection)


def _stop(slot: list[_Child | None]) -> None:
    child, slot[0] = slot[0], None
    if child is not None:
        child.kill()
