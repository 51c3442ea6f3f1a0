from __future__ import annotations

from mmstack.index.keyword import query_terms


def test_query_terms() -> None:
    assert query_terms("What is the effect of Vitamin-D on the bones? vitamin") == [
        "effect",
        "vitamin",
        "d",
        "bones",
    ]
    assert query_terms("to be or not to be") == ["to", "be", "or", "not"]
    assert query_terms('"quoted" AND (NEAR) * ^') == ["quoted", "near"]
    assert query_terms("  ?! ") == []
