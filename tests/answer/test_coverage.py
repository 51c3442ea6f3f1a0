from __future__ import annotations

from mmstack.answer.coverage import coverage, covering, key_terms


def test_words_asking_for_a_kind_of_answer_are_not_key_terms() -> None:
    question = "What percentage of the tumours were located in the liver?"
    assert key_terms(question) == {"tumour", "liver"}
    assert coverage(key_terms(question), "Of 40 tumours, 12 (30%) were in the liver.") == 1.0


def test_a_passage_missing_what_the_question_is_about_is_not_covering() -> None:
    passages = [
        "The RNA concentration in rat liver rose after birth.",
        "Plasma 17-ketosteroid levels were measured in older women.",
    ]
    asked = "What was the mean plasma 17-ketosteroid level in young women with breast cancer?"
    assert covering(asked, passages, 0.85) == []
    assert covering("What 17-ketosteroid levels were measured in women?", passages, 0.85) == [1]


def test_a_question_of_framing_words_only_keeps_them() -> None:
    assert key_terms("What type?") == {"type"}
