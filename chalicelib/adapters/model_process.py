"""The local model in a process of its own (QUARRY_LOCAL_ENCODER_PROCESS, on in the local stage).

torch runs each operator in C++, but it is Python that calls the next one, so between operators the
model needs this interpreter's lock; in the local stack the same interpreter serves the API, the
pollers, boto3's requests and the local extractor, all pure Python. Measured on the benchmark
machine (docs/BENCHMARKS.md, section 2): one encoder thread took 13.2 s for the chunks of 120 SciFact
abstracts alone, 43.3 s beside one thread running the local extractor, and 12.4 s with the extractor
in another process. In a child of its own the model waits for nobody's lock.

The child (model_child.py) is started as the parser children are (chalicelib/child_process.py,
which says why: subprocess of `python -c` and a socketpair, no fork of a threaded process, nothing
that needs /dev/shm), on first use, and again after it died. One request is on its socket at a time,
so the model gets all its threads for each. A request is the texts as JSON; the reply a JSON header
(the word pieces read of each text, or an error) and the vectors as float32 bytes.

Callers that arrive while a request is out go together in the next one (RequestQueue): the worker's
records each ask for one document's chunks, ~4 of them for a SciFact abstract, and the model computes
a batch of 16 for much less than four batches of 4 (one pass per layer, less padding once the child
sorts them by length). Nobody waits for a batch to fill: a request goes as soon as the one before it
is answered, so a lone caller is served as soon as it asks.

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
from dataclasses import dataclass, field

from chalicelib.child_process import start_child, stop_child, wait_until_ready
from chalicelib.model import TransientError

# Loading torch and the weights: seconds; a child that has not said READY by then is broken.
_START_TIMEOUT_S = 120
# A request carries at most MAX_TEXTS_PER_REQUEST texts, or one document's chunks (QUARRY_MAX_CHUNKS)
# when it has more: minutes at worst. A child silent for longer is stuck, and the worker's claim on
# the document would run out first.
_REQUEST_TIMEOUT_S = 600
# Callers' texts go together up to this many (a caller's own texts are never split): enough to give
# the model full batches of 32, not so many that one caller's small document waits behind big ones.
MAX_TEXTS_PER_REQUEST = 128


class ModelProcessFailed(TransientError):
    """The model child could not start, or stopped mid-request: not the document's fault, so it is
    retried (the next request starts a new child)."""


class _ModelRaised(ModelProcessFailed):
    """The model raised inside the child, which said so and is ready for the next request."""


@dataclass(eq=False)
class _Call:
    """One caller's texts, and what came back for them."""

    texts: list[str]
    answered: threading.Event = field(default_factory=threading.Event)
    vectors: list[list[float]] = field(default_factory=list)
    tokens: list[int] = field(default_factory=list)
    error: BaseException | None = None


class RequestQueue:
    """Callers' texts waiting for the next request, taken oldest first up to a number of texts.

    Written by hand: what it does is a list and a lock; the batching libraries (and the serving
    frameworks' dynamic batchers) wait for a batch to fill or a timer to fire, which only adds
    latency here, where the request before is the natural window."""

    def __init__(self, max_texts: int):
        self._max_texts = max_texts
        self._waiting: list[_Call] = []
        self._lock = threading.Lock()

    def put(self, call: _Call) -> None:
        with self._lock:
            self._waiting.append(call)

    def take(self) -> list[_Call]:
        """The oldest calls whose texts fit in max_texts; always at least one if any is waiting."""
        with self._lock:
            taken, count = [], 0
            while self._waiting and (not taken or count + len(self._waiting[0].texts) <= self._max_texts):
                call = self._waiting.pop(0)
                taken.append(call)
                count += len(call.texts)
            return taken


class ModelProcess:
    def __init__(
        self, batch_size: int, threads: int | None, precision: str, max_texts: int = MAX_TEXTS_PER_REQUEST
    ):
        self._arguments = [str(batch_size), str(threads or 0), precision]
        # Held by whoever has a request out: one conversation with the child at a time.
        self._lock = threading.Lock()
        self._queue = RequestQueue(max_texts)
        # The one place the child is kept: a list, so the finalizer that kills it when this object goes
        # sees whichever child is current.
        self._slot: list[_Child | None] = [None]
        weakref.finalize(self, _stop, self._slot)

    @property
    def _child(self) -> _Child | None:
        return self._slot[0]

    def encode(self, texts: list[str]) -> tuple[list[list[float]], list[int]]:
        """The unit vectors of `texts` and the word pieces the model read of each."""
        call = _Call(list(texts))
        self._queue.put(call)
        # Whoever gets the lock sends what is waiting, this call's texts or not; a caller whose texts
        # went in another's request finds them answered when the lock comes free.
        while not call.answered.is_set():
            with self._lock:
                if not call.answered.is_set():
                    self._send(self._queue.take())
        if call.error is not None:
            raise call.error
        return call.vectors, call.tokens

    def _send(self, calls: list[_Call]) -> None:
        """One request for the texts of `calls`; each call gets its own vectors, or its own error."""
        try:
            child = self._child
            if child is None or not child.alive:
                child = self._start()
            vectors, tokens = child.encode([text for call in calls for text in call.texts])
        except BaseException as error:
            if not isinstance(error, _ModelRaised):
                # Mid-conversation: the next request could read this one's reply, so the child goes.
                # (_ModelRaised: the child answered, so it is still in step and serves the next one.)
                self.close_child()
            for call in calls:
                call.error = _failure(error)
                call.answered.set()
            if not isinstance(error, Exception):
                raise  # KeyboardInterrupt, SystemExit: the thread that met it stops; the others go on
            return
        start = 0
        for call in calls:
            end = start + len(call.texts)
            call.vectors, call.tokens = vectors[start:end], tokens[start:end]
            call.answered.set()
            start = end

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

    def encode(self, texts: list[str]) -> tuple[list[list[float]], list[int]]:
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
        tokens = [int(count) for count in header["tokens"]]
        return [values[i * size : (i + 1) * size] for i in range(len(texts))], tokens

    def kill(self) -> None:
        stop_child(self.process, self.connection)


def _failure(error: BaseException) -> BaseException:
    """The error each caller of a failed request raises: its own object (an exception raised in several
    threads at once would gather all their tracebacks), chained to what happened."""
    if isinstance(error, ModelProcessFailed):
        failure: BaseException = type(error)(*error.args)
    elif isinstance(error, (EOFError, OSError)):
        failure = ModelProcessFailed(f"the model process stopped mid-request: {error!r}")
    else:
        failure = ModelProcessFailed(f"the request to the model process failed: {error!r}")
    failure.__cause__ = error
    return failure


def _stop(slot: list[_Child | None]) -> None:
    child, slot[0] = slot[0], None
    if child is not None:
        child.kill()
