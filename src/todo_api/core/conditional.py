"""Conditional requests on integer versions (RFC 9110 section 13): ETag, If-Match, If-None-Match."""

from dataclasses import dataclass
from typing import Annotated

from fastapi import Header

MAX_VERSION = 2**31 - 1


def etag(version: int) -> str:
    return f'"{version}"'


@dataclass(frozen=True, slots=True)
class EntityTags:
    """A parsed If-Match / If-None-Match list: `*`, or the versions it names."""

    any: bool
    strong: frozenset[int]
    weak: frozenset[int]

    @classmethod
    def exactly(cls, version: int) -> "EntityTags":
        return cls(any=False, strong=frozenset({version}), weak=frozenset())

    @classmethod
    def none(cls) -> "EntityTags":
        """A list no version matches."""
        return cls(any=False, strong=frozenset(), weak=frozenset())

    def matches_strongly(self, version: int) -> bool:
        # If-Match uses the strong comparison: a weak tag never matches (section 13.1.1).
        return self.any or version in self.strong

    def matches_weakly(self, version: int) -> bool:
        # If-None-Match uses the weak comparison (section 13.1.2).
        return self.any or version in self.strong or version in self.weak


def parse(header: str | None) -> EntityTags | None:
    if header is None:
        return None
    strong: set[int] = set()
    weak: set[int] = set()
    for raw in header.split(","):
        tag = raw.strip()
        if tag == "*":
            return EntityTags(any=True, strong=frozenset(), weak=frozenset())
        target = strong
        if tag.startswith("W/"):
            target, tag = weak, tag[2:]
        # Quotes are required by the RFC; bare numbers are accepted from lenient clients.
        value = tag[1:-1] if len(tag) >= 2 and tag[0] == tag[-1] == '"' else tag
        # A tag no stored version can have (versions are PostgreSQL integers) matches nothing.
        if value.isascii() and value.isdigit() and len(value) <= 10 and int(value) <= MAX_VERSION:
            target.add(int(value))
    return EntityTags(any=False, strong=frozenset(strong), weak=frozenset(weak))


IfMatch = Annotated[
    str | None,
    Header(
        description='Only change the task if its current ETag is one of these (e.g. `"3"`); '
        "otherwise 412 with the current task.",
    ),
]
IfNoneMatch = Annotated[
    str | None,
    Header(description='`"<version>"` you already have: 304 Not Modified if it is still current.'),
]
