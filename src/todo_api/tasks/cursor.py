"""Opaque keyset cursors: the last row's sort key and id, signed and bound to the caller."""

import base64
import binascii
import hashlib
import hmac
import json
from datetime import datetime

from todo_api.tasks.errors import InvalidCursor

SortValue = str | int | datetime | None
_TIMES = ("created_at", "updated_at", "due")
_MAC_BYTES = 16


def encode(key: bytes, *, owner: str, sort: str, value: SortValue, task_id: int) -> str:
    body = json.dumps(
        [sort, value.isoformat() if isinstance(value, datetime) else value, task_id],
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode()
    return _b64(_mac(key, owner, body) + body)


def decode(key: bytes, cursor: str, *, owner: str, sort: str) -> tuple[SortValue, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    except (binascii.Error, ValueError):
        raise InvalidCursor from None
    mac, body = raw[:_MAC_BYTES], raw[_MAC_BYTES:]
    # The owner is inside the MAC, so another user's cursor fails here like a forged one.
    if not hmac.compare_digest(mac, _mac(key, owner, body)):
        raise InvalidCursor
    cursor_sort, value, task_id = json.loads(body)
    if cursor_sort != sort:
        raise InvalidCursor("The cursor was issued for another sort order")
    if sort[1:] in _TIMES and value is not None:
        return datetime.fromisoformat(value), task_id
    return value, task_id


def _mac(key: bytes, owner: str, body: bytes) -> bytes:
    return hmac.new(key, owner.encode() + b"\0" + body, hashlib.sha256).digest()[:_MAC_BYTES]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
