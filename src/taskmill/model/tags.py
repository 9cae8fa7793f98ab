"""Tags: key/value labels that find, count and cancel tasks together.

A task has at most :data:`MAX_TAGS` tags; a key is 1 to :data:`MAX_KEY_BYTES` bytes of UTF-8
and a value at most :data:`MAX_VALUE_BYTES`. A domain's default tags are merged under the tags
of each submission (the submission wins on a shared key).
"""

from __future__ import annotations

from collections.abc import Mapping

import msgspec

from taskmill.model.errors import InvalidTagError

MAX_TAGS = 32
MAX_KEY_BYTES = 64
MAX_VALUE_BYTES = 256

Tags = Mapping[str, str]
"""Tags as given by callers: any mapping of str to str."""

_encode = msgspec.json.Encoder(order="sorted").encode
_decode = msgspec.json.Decoder(dict[str, str]).decode


def check_tags(tags: object, *, what: str = "tags") -> dict[str, str]:
    """Return ``tags`` as a plain dict, or raise :class:`InvalidTagError` saying what is wrong."""
    if not isinstance(tags, Mapping):
        raise InvalidTagError(f"{what} must be a mapping of str to str, got {tags!r}")
    checked: dict[str, str] = {}
    for key, value in tags.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise InvalidTagError(
                f"{what}: keys and values must be str, got {key!r}: {value!r}; "
                f"convert them, e.g. {{{str(key)!r}: {str(value)!r}}}"
            )
        if not key or len(key.encode()) > MAX_KEY_BYTES:
            raise InvalidTagError(
                f"{what}: a key must be 1 to {MAX_KEY_BYTES} bytes of UTF-8, got {key!r}"
            )
        if len(value.encode()) > MAX_VALUE_BYTES:
            raise InvalidTagError(
                f"{what}: the value of {key!r} is {len(value.encode())} bytes; at most "
                f"{MAX_VALUE_BYTES} are allowed"
            )
        checked[key] = value
    if len(checked) > MAX_TAGS:
        raise InvalidTagError(f"{what}: {len(checked)} tags given; at most {MAX_TAGS} allowed")
    return checked


def merge_tags(defaults: Mapping[str, str], own: Mapping[str, str]) -> dict[str, str]:
    """Defaults overridden by a submission's own tags, checked again as a whole."""
    if not defaults:
        return dict(own)
    return check_tags({**defaults, **own}, what="tags with the domain's defaults")


def encode_tags(tags: Mapping[str, str]) -> bytes | None:
    """JSON with sorted keys, or ``None`` for no tags (stored as NULL)."""
    return _encode(tags) if tags else None


def decode_tags(stored: str | bytes | None) -> dict[str, str]:
    """Tags from their stored JSON (``None``: no tags)."""
    return {} if stored is None else _decode(stored)
