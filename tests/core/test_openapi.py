"""The OpenAPI document: query parameters from the model that validates them, and request
body defaults stated so that generated clients may omit those fields."""

from enum import Enum
from typing import Any

import pytest
from fastapi import FastAPI
from pydantic import BaseModel, Field

from todo_api.core.openapi import install_openapi, query_parameters


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


class Options(BaseModel):
    colour: str = "blue"


class ThingCreate(BaseModel):
    title: str
    done: bool = Field(default=False, description="Finished?")
    options: Options | None = None


class ThingRead(BaseModel):
    title: str
    kind: str = "thing"


def _document_of_a_thing_api() -> dict[str, Any]:
    app = FastAPI()

    @app.post("/things")
    async def create_thing(thing: ThingCreate, limit: int = 50) -> ThingRead:
        return ThingRead(title=thing.title)

    install_openapi(app)
    return app.openapi()


def test_request_body_defaults_are_described_so_generated_clients_may_omit_those_fields() -> None:
    """openapi-typescript types a component property with a `default` as required."""
    schemas = _document_of_a_thing_api()["components"]["schemas"]

    create = schemas["ThingCreate"]
    assert create["required"] == ["title"]
    assert "default" not in create["properties"]["done"]
    assert create["properties"]["done"]["description"] == "Finished? `false` when omitted."
    # Through a reference from the body, too.
    assert schemas["Options"]["properties"]["colour"]["description"] == '`"blue"` when omitted.'
    assert "default" not in schemas["Options"]["properties"]["colour"]


def test_response_and_query_defaults_stay_since_the_server_always_applies_them() -> None:
    document = _document_of_a_thing_api()

    assert (
        document["components"]["schemas"]["ThingRead"]["properties"]["kind"]["default"] == "thing"
    )
    (limit,) = document["paths"]["/things"]["post"]["parameters"]
    assert limit["schema"]["default"] == 50


async def test_a_task_created_with_only_a_title_is_valid_for_generated_clients(
    app: FastAPI,
) -> None:
    create = app.openapi()["components"]["schemas"]["TaskCreate"]

    assert create["required"] == ["title"]
    assert not any("default" in field for field in create["properties"].values())
    assert create["properties"]["completed"]["description"] == "`false` when omitted."


async def test_problem_errors_are_optional_and_extension_members_allowed(app: FastAPI) -> None:
    # Bodies leave `errors` out unless there are some, and a 412 adds the current `task`: a
    # generated client must not expect `errors: null` nor refuse `task`.
    problem = app.openapi()["components"]["schemas"]["Problem"]

    assert "errors" not in problem["required"]
    assert problem["properties"]["errors"]["type"] == "array"
    assert "default" not in problem["properties"]["errors"]
    assert problem["additionalProperties"] is True
