"""The local embedders: the model-free HashingEmbedder and the real, offline MiniLM."""

from __future__ import annotations

import math
import os
import threading

import pytest

from chalicelib.adapters.local_embedders import HashingEmbedder, MiniLMEmbedder

CAT = "the cat sat on the mat"
KITTEN = "a kitten was sitting on a rug"
REVENUE = "quarterly revenue grew 5%"


def norm(vector: list[float]) -> float:
    return math.sqrt(sum(v * v for v in vector))


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True)) / (norm(a) * norm(b))


# -- HashingEmbedder ---------------------------------------------------------------------------


def test_hashing_vectors_have_the_configured_size_and_unit_length() -> None:
    embedder = HashingEmbedder(dimensions=64)
    vectors = embedder.embed_documents([CAT, REVENUE, "", "!!!"])
    assert [len(v) for v in vectors] == [64] * 4
    assert [norm(v) for v in vectors] == pytest.approx([1.0] * 4)
    assert HashingEmbedder().dimensions == len(HashingEmbedder().embed_query(CAT)) == 384


def test_hashing_is_deterministic_and_query_matches_document() -> None:
    # A fresh instance (and, since blake2b is unsalted, a fresh process) gives the same vector.
    assert HashingEmbedder().embed_query(CAT) == HashingEmbedder().embed_documents([CAT])[0]


def test_hashing_keeps_batch_order() -> None:
    embedder = HashingEmbedder()
    texts = [CAT, KITTEN, REVENUE]
    assert embedder.embed_documents(texts) == [embedder.embed_query(t) for t in texts]
    assert embedder.embed_documents([]) == []


def test_hashing_puts_texts_sharing_words_closer() -> None:
    embedder = HashingEmbedder()
    cat, cats, revenue = embedder.embed_documents(
        ["the black cat sat on the mat", "black cats sat on mats", "quarterly revenue grew"]
    )
    assert cosine(cat, cats) > cosine(cat, revenue) + 0.2


def test_hashing_ignores_case() -> None:
    embedder = HashingEmbedder()
    assert embedder.embed_query("The Cat") == embedder.embed_query("the cat")


# -- MiniLMEmbedder (real model, loaded once for the module) -----------------------------------


@pytest.fixture(scope="module")
def minilm() -> MiniLMEmbedder:
    return MiniLMEmbedder(batch_size=2)


@pytest.mark.slow
def test_minilm_identity_and_unit_vectors(minilm: MiniLMEmbedder) -> None:
    assert minilm.model_id == "sentence-transformers/all-MiniLM-L6-v2"
    assert minilm.dimensions == 384
    vectors = minilm.embed_documents([CAT, REVENUE])
    assert [len(v) for v in vectors] == [384, 384]
    assert [norm(v) for v in vectors] == pytest.approx([1.0, 1.0], abs=1e-4)
    assert minilm.max_seq_length == 256


@pytest.mark.slow
def test_minilm_is_semantic(minilm: MiniLMEmbedder) -> None:
    cat, kitten, revenue = minilm.embed_documents([CAT, KITTEN, REVENUE])
    assert cosine(cat, kitten) > cosine(cat, revenue) + 0.2


@pytest.mark.slow
def test_minilm_keeps_batch_order_across_batches(minilm: MiniLMEmbedder) -> None:
    texts = [CAT, REVENUE, KITTEN, "solar panels on the roof", "the annual report"]
    batched = minilm.embed_documents(texts)  # three batches of at most two
    for text, vector in zip(texts, batched, strict=True):
        assert minilm.embed_query(text) == pytest.approx(vector, abs=1e-5)


@pytest.mark.slow
def test_minilm_counts_word_pieces(minilm: MiniLMEmbedder) -> None:
    assert minilm.count_tokens("") == 0
    assert minilm.count_tokens("the cat") == 2
    # Rare words split into several word pieces, so the count exceeds the number of words.
    assert minilm.count_tokens("electroencephalography immunohistochemistry") > 2
    long_text = " ".join(["cat"] * 1000)
    assert minilm.count_tokens(long_text) == 1000  # counting must not truncate at max_seq_length


@pytest.mark.slow
def test_minilm_loads_once_when_several_threads_ask_first() -> None:
    embedder = MiniLMEmbedder()
    models: list[object] = []
    threads = [threading.Thread(target=lambda: models.append(embedder.model)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(models) == 4
    assert all(model is models[0] for model in models)


@pytest.mark.slow
def test_minilm_vectors_do_not_depend_on_how_texts_are_grouped(minilm: MiniLMEmbedder) -> None:
    texts = [
        "short one",
        " ".join(["a much longer text about herons and lochs"] * 20),
        "mid length text here",
    ]
    from chalicelib.adapters.local_embedders import precision_context

    with precision_context(minilm.precision):
        together = minilm.model.encode(texts, normalize_embeddings=True, convert_to_numpy=True)
    grouped = minilm.embed_documents(texts)
    for expected, got in zip(together.tolist(), grouped, strict=True):
        assert cosine(expected, got) > 0.9999


@pytest.mark.slow
@pytest.mark.parametrize("precision", ["float32", "auto"])
def test_minilm_gives_what_sentence_transformers_encode_gives(precision: str) -> None:
    """encode_counted runs the model's modules itself rather than through encode: the same vectors,
    and the model in eval mode from its first call (with dropout on, two calls would differ)."""
    from chalicelib.adapters.local_embedders import precision_context

    fresh = MiniLMEmbedder(batch_size=32, precision=precision)
    texts = [CAT, KITTEN, REVENUE, "solar panels on the roof", " ".join([REVENUE] * 12)]
    first, counts = fresh.encode_counted(texts)
    assert not fresh.model.training
    assert fresh.encode_counted(texts) == (first, counts)
    with precision_context(fresh.precision):
        expected = fresh.model.encode(texts, batch_size=32, normalize_embeddings=True, convert_to_numpy=True)
    # encode pads the five texts as one batch, encode_counted packs them, and the matrix shapes move
    # bfloat16's rounding (test_bfloat16_vectors_stay_within_cosine_0_9999_of_float32_and_rank_alike).
    bound = 0.99999 if fresh.precision == "float32" else 0.9999
    for want, got in zip(expected.tolist(), first, strict=True):
        assert cosine(want, got) > bound
    assert counts == [len(ids) for ids in fresh.model.tokenizer(texts, truncation=True)["input_ids"]]


@pytest.mark.slow
@pytest.mark.parametrize("precision", ["float32", "auto"])
def test_packed_texts_do_not_attend_to_each_other(precision: str) -> None:
    """A text packed beside others gets the vector it gets alone: attention stops at its bounds, and
    its positions start from 0 whatever comes before it."""
    embedder = MiniLMEmbedder(batch_size=32, precision=precision)
    texts = [" ".join([REVENUE] * 12), CAT, "solar panels on the roof", KITTEN]
    packed, _ = embedder.encode_counted(texts)
    bound = 0.99999 if embedder.precision == "float32" else 0.9999
    for text, vector in zip(texts, packed, strict=True):
        alone, _ = embedder.encode_counted([text])
        assert cosine(alone[0], vector) > bound
    # Texts in batches of two (two packed runs) give what one run of four gives.
    embedder.batch_size = 2
    for want, got in zip(packed, embedder.encode_counted(texts)[0], strict=True):
        assert cosine(want, got) > bound


def test_packed_attention_attends_within_each_text_only() -> None:
    """The attention function alone, against SDPA run on each text by itself: the packed layout's
    contract (one row of word pieces, the texts' bounds in cu_seq_lens_q)."""
    import torch

    from chalicelib.adapters.packed_encoding import _packed_or_padded_attention

    generator = torch.Generator().manual_seed(7)
    lengths = [5, 1, 9]
    query, key, value = (torch.randn(1, 4, sum(lengths), 8, generator=generator) for _ in range(3))
    bounds = torch.tensor([0, 5, 6, 15])
    packed, weights = _packed_or_padded_attention(None, query, key, value, None, cu_seq_lens_q=bounds)
    assert weights is None
    assert packed.shape == (1, sum(lengths), 4, 8)
    for start, end in [(0, 5), (5, 6), (6, 15)]:
        alone = torch.nn.functional.scaled_dot_product_attention(
            query[:, :, start:end], key[:, :, start:end], value[:, :, start:end]
        )
        assert torch.allclose(packed[:, start:end], alone.transpose(1, 2), atol=1e-6)
    # Attending across the bounds would change every row: the packed result is not one text's attention.
    across = torch.nn.functional.scaled_dot_product_attention(query, key, value).transpose(1, 2)
    assert not torch.allclose(packed, across, atol=1e-3)


# -- MiniLM's precision (QUARRY_LOCAL_ENCODER_PRECISION) -------------------------------------------


def test_precision_auto_follows_the_cpu_and_explicit_values_stand(monkeypatch: pytest.MonkeyPatch) -> None:
    from chalicelib.adapters import local_embedders

    monkeypatch.setattr(local_embedders, "cpu_has_bfloat16", lambda: True)
    assert MiniLMEmbedder(precision="auto").precision == "bfloat16"
    assert MiniLMEmbedder(precision="float32").precision == "float32"
    monkeypatch.setattr(local_embedders, "cpu_has_bfloat16", lambda: False)
    assert MiniLMEmbedder(precision="auto").precision == "float32"
    assert MiniLMEmbedder(precision="bfloat16").precision == "bfloat16"
    with pytest.raises(ValueError, match="QUARRY_LOCAL_ENCODER_PRECISION='fp16'"):
        MiniLMEmbedder(precision="fp16")


def test_the_settings_choose_the_local_models_precision() -> None:
    from chalicelib.adapter_factory import Adapters
    from chalicelib.config import Settings

    settings = Settings.from_env({"QUARRY_EMBEDDER": "minilm", "QUARRY_LOCAL_ENCODER_PRECISION": "float32"})
    assert Adapters(settings).embedder.precision == "float32"
    assert Settings().local_encoder_precision == "auto"


@pytest.mark.slow
def test_bfloat16_vectors_stay_within_cosine_0_9999_of_float32_and_rank_alike() -> None:
    """bfloat16 is chosen for speed only if it changes no vector that matters: SciFact abstracts and
    queries from the benchmark's own copy, encoded both ways with the same weights."""
    import json
    from pathlib import Path

    data = Path(__file__).resolve().parents[2] / "bench" / "data" / "scifact"
    with (data / "corpus.jsonl").open(encoding="utf-8") as lines:
        abstracts = [json.loads(next(lines))["text"][:1200] for _ in range(24)]
    with (data / "queries.jsonl").open(encoding="utf-8") as lines:
        queries = [json.loads(next(lines))["text"] for _ in range(8)]
    exact = MiniLMEmbedder(precision="float32")
    fast = MiniLMEmbedder(precision="bfloat16")
    texts = abstracts + queries
    expected_vectors, got_vectors = exact.embed_documents(texts), fast.embed_documents(texts)
    assert expected_vectors != got_vectors  # bfloat16 did run: its rounding shows in the last digits
    for expected, got in zip(expected_vectors, got_vectors, strict=True):
        assert cosine(expected, got) >= 0.9999
    exact_docs, fast_docs = exact.embed_documents(abstracts), fast.embed_documents(abstracts)
    for query in queries:
        q_exact, q_fast = exact.embed_query(query), fast.embed_query(query)
        top_exact = sorted(range(len(abstracts)), key=lambda i: -cosine(q_exact, exact_docs[i]))[:5]
        top_fast = sorted(range(len(abstracts)), key=lambda i: -cosine(q_fast, fast_docs[i]))[:5]
        assert top_fast == top_exact


@pytest.mark.slow
def test_linear_weights_cast_once_to_bfloat16_give_exactly_the_vectors_autocast_gives() -> None:
    import numpy
    import torch
    from sentence_transformers import SentenceTransformer

    from chalicelib.adapters.local_embedders import bundled_minilm_path, precision_context

    texts = [CAT, KITTEN, REVENUE, " ".join(["herons stand in the shallows of the loch"] * 12)]
    embedder = MiniLMEmbedder(precision="bfloat16")
    linear = [m for m in embedder.model.modules() if isinstance(m, torch.nn.Linear)]
    norms = [m for m in embedder.model.modules() if isinstance(m, torch.nn.LayerNorm)]
    assert linear and all(m.weight.dtype == torch.bfloat16 for m in linear)
    assert norms and all(m.weight.dtype == torch.float32 for m in norms)
    as_loaded = SentenceTransformer(str(bundled_minilm_path()), device="cpu")  # weights in float32
    for text in texts:  # one at a time: a batch's padding changes bfloat16's last digits
        with precision_context("bfloat16"):
            expected = as_loaded.encode([text], normalize_embeddings=True, convert_to_numpy=True)
            # encode on the embedder's model (its padded path): embed_documents packs and pools in
            # its own order of additions, which moves float32's last digit
            # (test_minilm_gives_what_sentence_transformers_encode_gives).
            got = embedder.model.encode([text], normalize_embeddings=True, convert_to_numpy=True)
        assert numpy.array_equal(got, expected)
    # A float32 model is left as it is.
    assert all(
        m.weight.dtype == torch.float32
        for m in MiniLMEmbedder(precision="float32").model.modules()
        if isinstance(m, torch.nn.Linear)
    )


# -- MiniLM in a process of its own (QUARRY_LOCAL_ENCODER_PROCESS) ----------------------------------


@pytest.mark.slow
def test_the_model_process_gives_the_in_process_vectors_and_token_counts() -> None:
    from chalicelib.usage import metering

    texts = [CAT, KITTEN, " ".join(["a much longer text about herons and lochs"] * 20)]
    here, away = MiniLMEmbedder(precision="float32"), MiniLMEmbedder(precision="float32", own_process=True)
    try:
        with metering() as in_process:
            expected = here.embed_documents(texts)
        with metering() as in_child:
            got = away.embed_documents(texts)
        assert away._process.pid is not None and away._process.pid != os.getpid()
        for e, g in zip(expected, got, strict=True):
            assert len(g) == 384 and cosine(e, g) > 0.99999
        assert in_child.snapshot() == in_process.snapshot() != in_process.__class__().snapshot()
    finally:
        away._process.close()


@pytest.mark.slow
def test_a_model_process_serving_two_requests_at_once_gives_each_caller_its_own_vectors() -> None:
    from concurrent.futures import ThreadPoolExecutor

    texts = [[CAT], [KITTEN, REVENUE], [" ".join(["herons and lochs"] * 30)], [REVENUE, CAT, KITTEN]] * 3
    here = MiniLMEmbedder(precision="float32")
    away = MiniLMEmbedder(precision="float32", own_process=True, process_requests=2)
    try:
        with ThreadPoolExecutor(max_workers=4) as pool:
            got = list(pool.map(away.embed_documents, texts))
        for group, vectors in zip(texts, got, strict=True):
            for expected, vector in zip(here.embed_documents(group), vectors, strict=True):
                assert cosine(expected, vector) > 0.99999
        assert len(away._process._child.connections) == 2
    finally:
        away._process.close()


@pytest.mark.slow
def test_a_dead_model_process_is_replaced_and_its_failures_are_transient(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import signal

    from chalicelib.adapters import model_process
    from chalicelib.model import TransientError

    embedder = MiniLMEmbedder(own_process=True)
    try:
        first = embedder.embed_query(CAT)
        dead = embedder._process.pid
        os.kill(dead, signal.SIGKILL)
        embedder._process._child.process.wait()
        # Found dead before a request: replaced, and the request served.
        assert cosine(first, embedder.embed_query(CAT)) > 0.99999
        assert embedder._process.pid not in (None, dead)
        # The model raising inside the child: a TransientError, and the child, still in step, stays.
        serving = embedder._process.pid
        with pytest.raises(TransientError, match="the model process failed"):
            embedder._process.encode([None])
        assert embedder._process.pid == serving

        def socket_closed(self, socket, texts):
            raise EOFError

        with monkeypatch.context() as patched:
            patched.setattr(model_process._Child, "encode", socket_closed)
            with pytest.raises(TransientError, match="stopped mid-request"):
                embedder.embed_query(CAT)
        assert embedder._process.pid is None  # the broken child is gone; the next request starts one
        assert cosine(first, embedder.embed_query(CAT)) > 0.99999
    finally:
        embedder._process.close()


@pytest.mark.slow
def test_with_the_model_in_its_own_process_this_one_never_imports_torch(tmp_path) -> None:
    import subprocess
    import sys

    script = (
        "import sys\n"
        "from chalicelib.adapters.local_embedders import MiniLMEmbedder\n"
        "vectors = MiniLMEmbedder(own_process=True).embed_documents(['the cat sat', 'on the mat'])\n"
        "assert len(vectors) == 2 and len(vectors[0]) == 384\n"
        "print('torch' in sys.modules, 'sentence_transformers' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "False"]
