"""Knowledge models as the service sees them: one per collection of the caller's team, the
named ones an administrator configures (with their filters, checked at start), and the
housekeeping markers."""

from __future__ import annotations

import pytest

from mmstack.config.settings import KnowledgeModelSettings, KnowledgeSettings
from mmstack.errors import NotFoundError
from mmstack.index.attribute_filter import Comparison, Compound, parse_filter
from mmstack.knowledge.knowledge_models import KnowledgeModels
from mmstack.stack import Stack
from mmstack.store.ownership import Owner


def test_named_models_with_filters_and_one_per_collection(stack: Stack) -> None:
    handbook = stack.collections.create("handbook").id
    policies = stack.collections.create("policies").id
    named = KnowledgeModelSettings(
        id="hr",
        collections=["handbook", policies],
        model="qwen-big",
        instructions="Answer for the Lisbon office.",
        filters={"type": "and", "filters": [{"type": "gte", "key": "year", "value": 2025}]},
    )
    models = KnowledgeModels(
        stack.collections, KnowledgeSettings(models=[named]), answer_model="qwen-small"
    ).for_owner(Owner(team_id=stack.collections.row(handbook).team_id))
    listed = {m.id: m for m in models.list()}
    assert list(listed) == ["hr", "kb/handbook", "kb/policies"]
    hr = listed["hr"]
    assert hr.collection_ids == (handbook, policies)
    assert hr.model == "qwen-big"
    assert hr.instructions == "Answer for the Lisbon office."
    assert hr.filters == Compound("and", (Comparison("year", "gte", 2025),))
    assert listed["kb/handbook"].model == "qwen-small"
    assert models.find("gpt-4o") is None  # an ordinary model
    with pytest.raises(NotFoundError, match="kb/nothing"):
        models.find("kb/nothing")
    assert models.is_housekeeping("### Task:\nGenerate a concise title")
    assert not models.is_housekeeping("What did the audit find?")

    # A key limited to one collection sees neither the other's model nor the named one.
    limited = KnowledgeModels(
        stack.collections, KnowledgeSettings(models=[named]), answer_model="qwen-small"
    ).for_owner(Owner(team_id=hr_team(stack, handbook), collection_ids=frozenset({handbook})))
    assert [m.id for m in limited.list()] == ["kb/handbook"]
    with pytest.raises(NotFoundError, match="cannot read"):
        limited.find("hr")


def hr_team(stack: Stack, collection: str) -> str:
    return stack.collections.row(collection).team_id


def test_a_wrong_filter_stops_the_start(stack: Stack) -> None:
    broken = KnowledgeModelSettings(
        id="bad", collections=["x"], filters={"type": "near", "key": "year", "value": 1}
    )
    with pytest.raises(ValueError, match=r"knowledge.models\[bad\].filters.type"):
        KnowledgeModels(stack.collections, KnowledgeSettings(models=[broken]), answer_model="m")


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ([], "must be an object"),
        ({"type": "and", "filters": []}, "at least one filter"),
        ({"type": "eq", "value": 1}, "key must be a non-empty string"),
        ({"type": "in", "key": "k", "value": [True]}, "only strings and numbers"),
        ({"type": "eq", "key": "k", "value": {"a": 1}}, "must be a string, number"),
    ],
)
def test_filters_in_their_json_form_are_checked(data: object, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        parse_filter(data)


def test_filters_in_their_json_form() -> None:
    parsed = parse_filter(
        {
            "type": "or",
            "filters": [
                {"type": "in", "key": "team", "value": ["ops", "hr"]},
                {"type": "eq", "key": "draft", "value": False},
            ],
        }
    )
    assert parsed == Compound(
        "or", (Comparison("team", "in", ["ops", "hr"]), Comparison("draft", "eq", False))
    )


def test_a_named_model_over_a_shared_name_is_not_listed(stack: Stack) -> None:
    for _ in range(2):
        stack.collections.create("twins", unique_name=False)
    named = KnowledgeModelSettings(id="both", collections=["twins"])
    models = KnowledgeModels(stack.collections, KnowledgeSettings(models=[named]), answer_model="m")
    listed = [m.id for m in models.list()]
    assert "both" not in listed
    assert len([m for m in listed if m.startswith("kb/vs_")]) == 2
    with pytest.raises(NotFoundError):
        models.find("both")
