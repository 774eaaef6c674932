"""The OpenAPI document, with the problem+json schema that error responses refer to."""

import json
from collections.abc import Iterator
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


def _state_request_defaults_in_descriptions(document: dict[str, Any]) -> None:
    """Move the `default` of each request-body field into its description.

    openapi-typescript 7, the generator TypeScript frontends run on `/openapi.json`, types every
    property of a component schema that has a `default` as required (its `defaultNonNullable`,
    on unless turned off; openapi-ts/openapi-typescript#1741, #2012). That is true of a response,
    where the server always sends the field, and false of a request body, where the default is
    what the server assumes when the field is left out: `TaskCreate.completed` would have to be
    sent on every create. Without `default` the field is optional, as `required` says, and the
    description still gives the default to readers and to other generators. A schema that a
    response also uses loses it too: optional in a response type is safe, required in a request
    type is not.
    """
    schemas = document["components"]["schemas"]
    for name in _request_schemas(document):
        properties = schemas[name].get("properties", {})
        for key, field in list(properties.items()):
            if "default" in field:
                properties[key] = _default_described(field)


def _default_described(field: dict[str, Any]) -> dict[str, Any]:
    # A new dict: the field's schema may be an object a model holds (WithJsonSchema).
    described = {name: value for name, value in field.items() if name != "default"}
    note = f"`{json.dumps(field['default'])}` when omitted."
    described["description"] = f"{field['description']} {note}" if "description" in field else note
    return described


def _request_schemas(document: dict[str, Any]) -> set[str]:
    """The component schemas request bodies use, directly or through other schemas."""
    schemas = document["components"]["schemas"]
    pending = [
        operation["requestBody"]
        for item in document["paths"].values()
        for operation in item.values()
        if "requestBody" in operation
    ]
    found: set[str] = set()
    while pending:
        for ref in _refs(pending.pop()):
            name = ref.removeprefix("#/components/schemas/")
            if name in schemas and name not in found:
                found.add(name)
                pending.append(schemas[name])
    return found


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            yield node["$ref"]
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


_FASTAPI_422 = "#/components/schemas/HTTPValidationError"


def _drop_fastapi_validation_errors(document: dict[str, Any]) -> None:
    """Remove the 422 FastAPI documents on every operation with parameters.

    The app never sends it: an invalid path is 404, an invalid query or header 400, an invalid
    body 422, all problem+json (core.errors), and the routes that read a body document their
    422 as such. Left in, a typed client expects an `HTTPValidationError` that never comes,
    and a generator is told of a status the operation does not have.
    """
    for item in document["paths"].values():
        for operation in item.values():
            responses = operation.get("responses", {})
            if _FASTAPI_422 in set(_refs(responses.get("422", {}))):
                del responses["422"]
    schemas = document["components"]["schemas"]
    for name in ("HTTPValidationError", "ValidationError"):
        if f"#/components/schemas/{name}" not in set(_refs(document)):
            schemas.pop(name, None)


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
            _drop_fastapi_validation_errors(schema)
            _state_request_defaults_in_descriptions(schema)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
