"""The OpenAPI document, with the problem+json schema that error responses refer to."""

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

from todo_api.core.errors import Problem


def query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    """OpenAPI parameter objects for a query-string model, as FastAPI writes them for
    `Annotated[Model, Query()]`, for routes that parse the query string themselves."""
    schema = model.model_json_schema()
    if "$defs" in schema:  # their references would point nowhere in the OpenAPI document
        raise TypeError(f"{model.__name__}: query parameters must not be models or enums")
    if any(_is_array(field) for field in schema["properties"].values()):
        # The routes validate `dict(query_params)`: a repeated key keeps its last value only.
        raise TypeError(f"{model.__name__}: query parameters must not be lists")
    required = schema.get("required", [])
    return [
        {"name": name, "in": "query", "required": name in required, "schema": field}
        | ({"description": field["description"]} if "description" in field else {})
        for name, field in schema["properties"].items()
    ]


def _is_array(field: dict[str, Any]) -> bool:
    return field.get("type") == "array" or any(_is_array(f) for f in field.get("anyOf", []))


def install_openapi(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            schemas = schema.setdefault("components", {}).setdefault("schemas", {})
            problem = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
            schemas.update(problem.pop("$defs", {}))
            schemas["Problem"] = problem
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
