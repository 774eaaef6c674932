"""Query parameters documented from the model that validates them."""

from enum import Enum

import pytest
from pydantic import BaseModel, Field

from todo_api.core.openapi import query_parameters


class Colour(Enum):
    RED = "red"


def test_a_query_model_with_an_enum_is_refused_rather_than_documented_with_a_dangling_ref() -> None:
    class Filters(BaseModel):
        colour: Colour | None = None

    with pytest.raises(TypeError, match="Filters"):
        query_parameters(Filters)


def test_a_list_parameter_is_refused_since_only_the_last_value_would_count() -> None:
    class Filters(BaseModel):
        tags: list[str] | None = None

    with pytest.raises(TypeError, match="Filters"):
        query_parameters(Filters)


def test_required_and_described_parameters_say_so() -> None:
    class Filters(BaseModel):
        name: str = Field(description="Who")
        page: int = 1

    by_name = {p["name"]: p for p in query_parameters(Filters)}

    assert by_name["name"]["required"] is True
    assert by_name["name"]["description"] == "Who"
    assert by_name["page"]["required"] is False
    assert by_name["page"]["schema"]["default"] == 1
    assert "description" not in by_name["page"]
