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
"""

from __future__ import annotations

import array
import contextlib
import json
import os
import threading
import weakref
from collections.abc import Mapping

from chalicelib.child_process import start_child
from chalicelib.model import TransientError

# Loading torch and the weights: seconds; a child that has not said READY by then is broken.
_START_TIMEOUT_S = 120


class ModelProcessFailed(TransientError):
    """The model child could not start, or stopped mid-request: not the document's fault, so it is
    retried (the next request starts a new child)."""


class ModelProcess:
    def __init__(self, batch_size: int, threads: int | None, precision: str):
        self._arguments = [str(batch_size), str(threads or 0), precision]
        self._lock = threading.Lock()
        self._child: _Child | None = None
        self._finalizer = weakref.finalize(self, _stop, [None])

    def encode(self, texts: list[str]) -> tuple[list[list[float]], int]:
        """The unit vectors of `texts` and the word pieces the model read."""
        with self._lock:
            if self._child is None or not self._child.alive:
                self._start()
            assert self._child is not None
            try:
                return self._child.encode(texts)
            except (EOFError, OSError) as error:
                self._child.kill()
                self._child = None
                raise ModelProcessFailed(f"the model process stopped mid-request: {error!r}") from error

    @property
    def pid(self) -> int | None:
        """The live child's process id (tests, the benchmark), or None before the first request."""
        return self._child.process.pid if self._child is not None and self._child.alive else None

    def close(self) -> None:
        with self._lock:
            if self._child is not None:
                self._child.kill()
                self._child = None

    def _start(self) -> None:
        if self._child is not None:
            self._child.kill()
        self._child = _Child(self._arguments)
        self._finalizer.detach()
        self._finalizer = weakref.finalize(self, _stop, [self._child])


def child_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The parent's environment, with OpenMP's threads told to sleep when they have no work (unless
    the user chose otherwise): by default they spin for a while after every operator, and between
    requests that spinning took the cores the API, moto and the extractor need (measured: the stack's
    CPU for 300 documents went from 44 to 73 core-seconds with two spinning threads)."""
    return {"OMP_WAIT_POLICY": "PASSIVE", **environ}


class _Child:
    def __init__(self, arguments: list[str]):
        self.process, self.connection = start_child(
            "chalicelib.adapters.model_child", arguments, env=child_environment(os.environ)
        )
        try:
            if not self.connection.poll(_START_TIMEOUT_S):
                raise ModelProcessFailed(f"the model process did not start within {_START_TIMEOUT_S} s")
            ready = json.loads(self.connection.recv_bytes())
            self.dimensions = int(ready["dimensions"])
        except (EOFError, OSError, ValueError, KeyError) as error:
            self.kill()
            raise ModelProcessFailed(
                f"the model process failed to start (exit status {self.process.poll()})"
            ) from error

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def encode(self, texts: list[str]) -> tuple[list[list[float]], int]:
        self.connection.send_bytes(json.dumps(texts).encode("utf-8"))
        header = json.loads(self.connection.recv_bytes())
        if "error" in header:
            # The model raised (a bug, not a file's content: any text encodes): retried.
            raise ModelProcessFailed(f"the model process failed: {header['error']}")
        flat = array.array("f")
        flat.frombytes(self.connection.recv_bytes())
        values = flat.tolist()
        size = self.dimensions
        return [values[i * size : (i + 1) * size] for i in range(len(texts))], int(header["tokens"])

    def kill(self) -> None:
        with contextlib.suppress(OSError):
            self.connection.close()
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()


def _stop(holder: list[_Child | None]) -> None:
    for child in holder:
        if child is not None:
            child.kill()
