"""Manual order keys: strings whose byte order is the list's order.

Keys are fractional indexes (David Greenspan's scheme, via `fractional_indexing`): between any
two keys there is always another, so a move writes the moved task's key alone and never runs
out of room. A new first place is not taken from the current first key (two writers could read
the same one) but from the owner's counter of first places (`users.tops_issued`), taken under
that row's lock: the n-th first place is `A` followed by 10**26 - 1 - n in 26 decimal digits,
a valid key of the scheme's smallest integer range that is below every key handed out before.
"""

from fractional_indexing import generate_key_between  # type: ignore[import-untyped]

_TOP_DIGITS = 26
_TOPS = 10**_TOP_DIGITS - 1


def top_position(issued: int) -> str:
    """The key of the `issued`-th first place (1, 2, ...): each is before all earlier keys."""
    return f"A{_TOPS - issued:0{_TOP_DIGITS}d}"


def between(before: str, after: str | None) -> str:
    """A key strictly between two neighbours' keys (`after` None: the last place)."""
    key: str = generate_key_between(before, after)
    return key
