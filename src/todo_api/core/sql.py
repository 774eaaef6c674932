"""SQL the database answers in the API's own wire format, and statements compiled once.

`json_object(...)` and `rfc3339(...)` are SQLAlchemy constructs compiled per dialect, so the
repositories state a response's shape once, next to their statements, and PostgreSQL (or
SQLite) hands back the JSON text that goes out as the response body: no rows are turned into
Python objects and back into JSON on the way.
"""

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Boolean, Executable, Text
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import Label
from sqlalchemy.sql.functions import FunctionElement

from todo_api.core.columns import TextList


class rfc3339(FunctionElement[str]):  # noqa: N801 (named like the SQL functions it stands for)
    """A UTC time as the API writes it: `2026-01-10T09:30:00.123456Z`, `...:00Z` on a whole
    second (pydantic's form, so bodies built by the database and by Python are identical)."""

    type = Text()
    inherit_cache = True


@compiles(rfc3339, "postgresql")
def _rfc3339_postgresql(element: rfc3339, compiler: SQLCompiler, **kw: Any) -> str:
    time = compiler.process(element.clauses, **kw)
    utc = f"({time}) AT TIME ZONE 'UTC'"
    return (
        f"""(to_char({utc}, 'YYYY-MM-DD"T"HH24:MI:SS') """
        f"|| CASE WHEN date_trunc('second', {time}) = ({time}) THEN '' "
        f"ELSE to_char({utc}, '.US') END || 'Z')"
    )


@compiles(rfc3339, "sqlite")
def _rfc3339_sqlite(element: rfc3339, compiler: SQLCompiler, **kw: Any) -> str:
    # SQLAlchemy stores SQLite times as `YYYY-MM-DD HH:MM:SS.ffffff`, in UTC here.
    time = compiler.process(element.clauses, **kw)
    whole = f"CASE WHEN substr({time}, 21) = '000000' THEN substr({time}, 1, 19) ELSE {time} END"
    return f"(replace({whole}, ' ', 'T') || 'Z')"


class json_object(FunctionElement[str]):  # noqa: N801
    """A compact JSON object of the labelled expressions, in their order, as text.

    Byte for byte what pydantic's `model_dump_json` writes for the same values (compact, keys in
    field order, the same string escapes), so a response model still documents it exactly.
    """

    type = Text()
    inherit_cache = True

    def __init__(self, *fields: Label[Any]) -> None:
        super().__init__(*fields)


@compiles(json_object, "postgresql")
def _json_object_postgresql(element: json_object, compiler: SQLCompiler, **kw: Any) -> str:
    # row_to_json of a one-row derived table is compact and keeps the order;
    # json_build_object would put spaces around every colon and comma.
    fields = ", ".join(
        f"{compiler.process(field.element, **kw)} AS {compiler.preparer.quote(field.name)}"
        for field in _fields(element)
    )
    return f"(SELECT row_to_json(j)::text FROM (SELECT {fields}) AS j)"  # noqa: S608 (compiled SQL)


@compiles(json_object, "sqlite")
def _json_object_sqlite(element: json_object, compiler: SQLCompiler, **kw: Any) -> str:
    pairs = []
    for field in _fields(element):
        value = compiler.process(field.element, **kw)
        if isinstance(field.type, Boolean):  # SQLite stores booleans as 0 and 1
            value = f"json(CASE WHEN {value} THEN 'true' ELSE 'false' END)"
        elif isinstance(field.type, TextList):  # stored as JSON text: embed, not quote
            value = f"json({value})"
        pairs.append(f"'{field.name}', {value}")
    return f"json_object({', '.join(pairs)})"


class contains_all(FunctionElement[bool]):  # noqa: N801
    """Whether a list column holds every value of a list parameter: `@>` on PostgreSQL (a GIN
    index serves it), a JSON set comparison on SQLite."""

    type = Boolean()
    inherit_cache = True


@compiles(contains_all, "postgresql")
def _contains_all_postgresql(element: contains_all, compiler: SQLCompiler, **kw: Any) -> str:
    column, values = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"({column} @> {values})"


@compiles(contains_all, "sqlite")
def _contains_all_sqlite(element: contains_all, compiler: SQLCompiler, **kw: Any) -> str:
    column, values = (compiler.process(clause, **kw) for clause in element.clauses)
    held = f"SELECT value FROM json_each({column})"  # noqa: S608 (compiled SQL)
    wanted = f"SELECT 1 FROM json_each({values}) AS wanted WHERE wanted.value NOT IN ({held})"  # noqa: S608
    return f"NOT EXISTS ({wanted})"


def _fields(element: json_object) -> list[Label[Any]]:
    fields = list(element.clauses)
    assert all(isinstance(field, Label) for field in fields), "json_object takes labels"
    return fields  # type: ignore[return-value]


@dataclass(frozen=True, slots=True)
class Compiled:
    """A statement as its dialect's driver runs it: SQL text and its parameters in order."""

    sql: str
    names: tuple[str, ...]
    fixed: dict[str, Any]

    def arguments(self, params: dict[str, Any]) -> list[Any]:
        values = self.fixed | params
        return [values[name] for name in self.names]


def compile_for(statement: Executable, dialect: Dialect) -> Compiled:
    """Compile once; the values a statement carries itself (literals) come along, and a
    parameter left unbound stays a KeyError rather than a silent NULL."""
    assert isinstance(statement, ClauseElement)
    compiled = statement.compile(dialect=dialect)
    assert isinstance(compiled, SQLCompiler)
    literals = {
        name: bind.effective_value for name, bind in compiled.binds.items() if not bind.required
    }
    return Compiled(compiled.string, tuple(compiled.positiontup or ()), literals)
