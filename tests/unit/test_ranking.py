"""Reciprocal rank fusion, checked against scores worked out by hand."""

from __future__ import annotations

import pytest

from chalicelib.model import Hit
from chalicelib.ranking import reciprocal_rank_fusion


def hit(chunk_id: str, score: float = 0.0, text: str | None = None) -> Hit:
    return Hit(
        chunk_id=chunk_id,
        document_id=f"doc-{chunk_id}",
        score=score,
        text=text if text is not None else f"text of {chunk_id}",
        key=f"{chunk_id}.txt",
        page=None,
        content_type="text/plain",
        metadata={"from": chunk_id},
    )


def test_scores_are_the_sum_of_reciprocal_ranks() -> None:
    vector = [hit("a"), hit("b"), hit("c")]
    keyword = [hit("c"), hit("a")]
    fused = reciprocal_rank_fusion([vector, keyword], k=60)
    scores = {h.chunk_id: h.score for h in fused}
    assert scores["a"] == pytest.approx(1 / 61 + 1 / 62)
    assert scores["c"] == pytest.approx(1 / 63 + 1 / 61)
    assert scores["b"] == pytest.approx(1 / 62)
    assert [h.chunk_id for h in fused] == ["a", "c", "b"]


def test_a_chunk_found_by_both_rankers_beats_one_found_first_by_one() -> None:
    fused = reciprocal_rank_fusion([[hit("x"), hit("both")], [hit("y"), hit("both")]], k=60)
    assert fused[0].chunk_id == "both"


def test_k_trades_a_single_top_rank_against_agreement() -> None:
    # "solo" is first in one list only; "agreed" is third in both.
    lists = [[hit("solo"), hit("x1"), hit("agreed")], [hit("y1"), hit("y2"), hit("agreed")]]
    small_k = reciprocal_rank_fusion(lists, k=0)  # solo 1/1 = 1.0 against agreed 2/3
    assert small_k[0].chunk_id == "solo"
    assert small_k[0].score == pytest.approx(1.0)
    large_k = reciprocal_rank_fusion(lists, k=60)  # solo 1/61 against agreed 2/63
    assert large_k[0].chunk_id == "agreed"
    assert large_k[0].score == pytest.approx(2 / 63)


def test_equal_scores_are_ordered_by_chunk_id() -> None:
    fused = reciprocal_rank_fusion([[hit("zeta"), hit("alpha")], [hit("alpha"), hit("zeta")]], k=60)
    assert [h.chunk_id for h in fused] == ["alpha", "zeta"]
    assert fused[0].score == fused[1].score == pytest.approx(1 / 61 + 1 / 62)


def test_weights_scale_each_list() -> None:
    fused = reciprocal_rank_fusion([[hit("v")], [hit("kw")]], k=10, weights=[1.0, 3.0])
    assert [(h.chunk_id, h.score) for h in fused] == [
        ("kw", pytest.approx(3 / 11)),
        ("v", pytest.approx(1 / 11)),
    ]


def test_limit_cuts_the_fused_list() -> None:
    fused = reciprocal_rank_fusion([[hit(str(i)) for i in range(20)]], limit=5)
    assert [h.chunk_id for h in fused] == ["0", "1", "2", "3", "4"]


def test_empty_rankings_give_nothing() -> None:
    assert reciprocal_rank_fusion([]) == []
    assert reciprocal_rank_fusion([[], []]) == []
    assert [h.chunk_id for h in reciprocal_rank_fusion([[], [hit("only")]])] == ["only"]


def test_hit_fields_come_from_the_first_list_that_has_the_chunk() -> None:
    fused = reciprocal_rank_fusion([[hit("a", score=0.9, text="from vector")], [hit("a", 12.5, "from bm25")]])
    assert fused[0].text == "from vector"
    assert fused[0].metadata == {"from": "a"}
    assert fused[0].score == pytest.approx(2 / 61)


def test_a_duplicate_within_one_list_counts_once_at_its_best_rank() -> None:
    fused = reciprocal_rank_fusion([[hit("a"), hit("b"), hit("a")]], k=60)
    assert [(h.chunk_id, h.score) for h in fused] == [
        ("a", pytest.approx(1 / 61)),
        ("b", pytest.approx(1 / 62)),
    ]


def test_weights_must_match_the_rankings() -> None:
    with pytest.raises(ValueError):
        reciprocal_rank_fusion([[hit("a")]], weights=[1.0, 2.0])
