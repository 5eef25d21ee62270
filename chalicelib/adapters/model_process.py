"""The local model in a process of its own (QUARRY_LOCAL_ENCODER_PROCESS, on in the local stage).

torch runs each operator in C++, but it is Python that calls the next one, so between operators the
model needs this interpreter's lock; in the local stack the same interpreter serves the API, the
pollers, boto3's requests and the local extractor, all pure Python. Measured on the benchmark
machine (docs/BENCHMARKS.md, section 2): one encoder thread took 13.2 s for the chunks of 120 SciFact
abstracts alone, 43.3 s beside one thread running the local extractor, and 12.4 s with the extractor
in another process. In a child of its own the model waits for nobody's lock.

The child (model_child.py) is started as the parser children are (chalicelib/child_process.py,
which says why: subprocess of `python -c` and a socketpair, no fork of a threaded process, nothing
that needs /dev/shm), on first use, and again after it died. It has QUARRY_LOCAL_ENCODER_REQUESTS
sockets (2 in the local stage), each served by a thread of its own with a copy of the model, and
each carries one request at a time. A request is the texts as JSON; the reply a JSON header (the word
pieces read of each text, or an error) and the vectors as float32 bytes.

Why two requests at once, each on one torch thread, rather than one on two: the model shares the two
cores with moto, the API and the worker, and an operator split across two threads waits for the
slower one, which is often off its core; two requests on one thread each lose only their own time.
Alone on this machine, two threads each encoding batches of 6 abstracts ran 2.0x one of them (112.6
against 55.5 abstracts/s); in the stack, see docs/BENCHMARKS.md, section 2.

Callers that arrive while a request is out go together in the next one (RequestQueue): the worker's
records each ask for one document's chunks, ~4 of them for a SciFact abstract, and a bigger batch
costs the model less per chunk (one packed pass per layer, see packed_encoding.py):
on 1,500 abstracts with four records at once, the model's process used 73-78 core-seconds against 84
one document a request. Nobody waits for a batch to fill: a request goes as soon as the one before it
is answered, so a lone caller is served as soon as it asks.

The child inherits the environment; the local stage sets OMP_WAIT_POLICY=PASSIVE in it
(.chalice/config.json). By default OpenMP's threads spin for a while after every operator, and
between requests that spinning took the cores the API, moto and the extractor need (measured: the
stack's CPU for 300 documents went from 44 to 73 core-seconds with two spinning threads).
"""

from __future__ import annotations

import array
import contextlib
import json
import threading
import weakref
from dataclasses import dataclass, field

from chalicelib.child_process import start_child_with_sockets, stop_child, wait_until_ready
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

    def __bool__(self) -> bool:
        """Whether any call is waiting."""
        with self._lock:
            return bool(self._waiting)

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
    """The model child and the requests out to it: at most `requests` at once, one per socket."""

    def __init__(
        self,
        batch_size: int,
        threads: int | None,
        precision: str,
        requests: int = 1,
        max_texts: int = MAX_TEXTS_PER_REQUEST,
    ):
        if requests < 1:
            raise ValueError("the model process needs to serve at least one request at a time")
        self._arguments = [str(batch_size), str(threads or 0), precision]
        self._sockets = requests
        self._queue = RequestQueue(max_texts)
        # The sockets with no request out, and the turns callers take on them.
        self._idle_sockets = list(range(requests))
        self._turns = threading.Condition()
        # Held while the child is replaced, so concurrent requests that find it dead start one, not two.
        self._start_lock = threading.Lock()
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
        # Whoever gets an idle socket sends what is waiting, this call's texts or not; a caller whose
        # texts went in another's request waits until they are answered.
        while True:
            with self._turns:
                self._turns.wait_for(lambda: call.answered.is_set() or (self._idle_sockets and self._queue))
                if call.answered.is_set():
                    break
                socket = self._idle_sockets.pop()
            try:
                calls = self._queue.take()
                if calls:
                    self._send(socket, calls)
            finally:
                with self._turns:
                    self._idle_sockets.append(socket)
                    self._turns.notify_all()
        if call.error is not None:
            raise call.error
        return call.vectors, call.tokens

    def _send(self, socket: int, calls: list[_Call]) -> None:
        """One request for the texts of `calls`; each call gets its own vectors, or its own error."""
        child = None
        try:
            child = self._live_child()
            vectors, tokens = child.encode(socket, [text for call in calls for text in call.texts])
        except BaseException as error:
            if not isinstance(error, _ModelRaised):
                # Mid-conversation: the next request could read this one's reply, so the child goes.
                # (_ModelRaised: the child answered, so it is still in step and serves the next one.)
                self._retire(child)
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

    def _live_child(self) -> _Child:
        with self._start_lock:
            child = self._child
            if child is None or not child.alive:
                _stop(self._slot)
                child = self._slot[0] = _Child(self._arguments, self._sockets)
            return child

    def _retire(self, child: _Child | None) -> None:
        """Kill `child` if it is still the current one (another request may have replaced it already);
        requests out on its other sockets fail, and are retried."""
        with self._start_lock:
            if child is not None and self._child is child:
                _stop(self._slot)

    @property
    def pid(self) -> int | None:
        """The live child's process id (tests, the benchmark), or None before the first request."""
        return self._child.process.pid if self._child is not None and self._child.alive else None

    def close(self) -> None:
        with self._start_lock:
            _stop(self._slot)


class _Child:
    def __init__(self, arguments: list[str], sockets: int):
        self.process, self.connections = start_child_with_sockets(
            "chalicelib.adapters.model_child", arguments, sockets
        )
        try:
            self.dimensions = wait_until_ready(
                self.process,
                self.connections[0],
                _START_TIMEOUT_S,
                lambda ready: int(json.loads(ready)["dimensions"]),
                ModelProcessFailed,
                "model process",
            )
        except BaseException:
            self.kill()
            raise

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def encode(self, socket: int, texts: list[str]) -> tuple[list[list[float]], list[int]]:
        connection = self.connections[socket]
        connection.send_bytes(json.dumps(texts).encode("utf-8"))
        if not connection.poll(_REQUEST_TIMEOUT_S):
            raise ModelProcessFailed(f"the model process did not answer within {_REQUEST_TIMEOUT_S} s")
        header = json.loads(connection.recv_bytes())
        if "error" in header:
            # The model raised (a bug, not a file's content: any text encodes): retried.
            raise _ModelRaised(f"the model process failed: {header['error']}")
        flat = array.array("f")
        flat.frombytes(connection.recv_bytes())
        values = flat.tolist()
        size = self.dimensions
        tokens = [int(count) for count in header["tokens"]]
        return [values[i * size : (i + 1) * size] for i in range(len(texts))], tokens

    def kill(self) -> None:
        for connection in self.connections[1:]:
            with contextlib.suppress(OSError):
                connection.close()
        stop_child(self.process, self.connections[0])


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
