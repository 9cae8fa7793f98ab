"""Payload encoding: typed payloads to JSON bytes and back, with msgspec. Never pickle.

Supported payload types: dataclasses, ``msgspec.Struct``, ``TypedDict``, pydantic models
(duck-typed, no dependency) and plain JSON values (``dict``, ``list``, ``str``, numbers, ...).
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

import msgspec

from taskmill.model.errors import PayloadEncodeError, PayloadValidationError

_encoder = msgspec.json.Encoder()


def _refuse_non_finite(value: Any, task: str) -> None:
    """Raise if ``value`` (builtins) holds a NaN or an infinity, naming where."""
    found = _find_non_finite(value, "payload")
    if found is not None:
        where, number = found
        raise PayloadEncodeError(
            f"cannot encode the payload for {task}: {where} is {number!r}, and JSON has no NaN "
            f"or infinity (it would be stored as null and come back as None); pass a finite "
            f"number, or None on purpose"
        )


def _find_non_finite(value: Any, where: str) -> tuple[str, float] | None:
    if isinstance(value, float):
        return None if math.isfinite(value) else (where, value)
    if isinstance(value, dict):
        items: Any = ((f"{where}[{key!r}]", item) for key, item in value.items())
    elif isinstance(value, list | tuple):
        items = ((f"{where}[{i}]", item) for i, item in enumerate(value))
    else:
        return None
    for path, item in items:
        found = _find_non_finite(item, path)
        if found is not None:
            return found
    return None


def _is_pydantic_model(tp: Any) -> bool:
    return (
        isinstance(tp, type)
        and hasattr(tp, "model_validate_json")
        and hasattr(tp, "model_dump_json")
    )


class PayloadCodec:
    """Encodes and validates payloads of one declared type."""

    __slots__ = ("_decoder", "_pydantic", "_validate", "payload_type")

    def __init__(self, payload_type: Any) -> None:
        self.payload_type = payload_type
        self._pydantic = _is_pydantic_model(payload_type)
        self._decoder = None if self._pydantic else msgspec.json.Decoder(payload_type)
        # Untyped JSON needs no second pass: if it encoded, it decodes.
        self._validate = payload_type is not Any

    def encode(self, payload: object, *, task: str) -> bytes:
        """Return ``payload`` as JSON bytes, checked against the declared type.

        Raises:
            PayloadEncodeError: msgspec cannot encode a value inside the payload.
            PayloadValidationError: the payload does not match the declared type.
        """
        if self._pydantic:
            if not isinstance(payload, self.payload_type):
                raise PayloadValidationError(
                    f"payload for {task} must be a {self.payload_type.__name__}, "
                    f"got {type(payload).__name__}"
                )
            data: bytes = payload.model_dump_json().encode()
            if b"null" in data:
                _refuse_non_finite(payload.model_dump(), task)
            return data
        try:
            data = _encoder.encode(payload)
        except (TypeError, ValueError, OverflowError, msgspec.EncodeError) as exc:
            raise PayloadEncodeError(
                f"cannot encode the payload for {task} as JSON: {exc}. Payloads must be "
                f"dataclasses, msgspec Structs, TypedDicts or JSON values (str, int, float, "
                f"bool, None, list, dict with str keys); pass file paths or ids instead of "
                f"open files, sockets or other live objects"
            ) from exc
        if b"null" in data:  # JSON writes NaN and infinities as null: find out which it was
            _refuse_non_finite(msgspec.to_builtins(payload), task)
        if self._validate:
            try:
                assert self._decoder is not None
                self._decoder.decode(data)
            except msgspec.ValidationError as exc:
                raise PayloadValidationError(
                    f"payload for {task} does not match {_type_name(self.payload_type)}: {exc}"
                ) from exc
        return data

    def decode(self, data: bytes) -> Any:
        """Return the payload stored as ``data``, as an instance of the declared type."""
        if self._pydantic:
            return self.payload_type.model_validate_json(data)
        assert self._decoder is not None
        return self._decoder.decode(data)


def default_key(task_type: str, data: bytes) -> str:
    """The dedup key of a payload without an explicit key: a hash of type and payload."""
    digest = hashlib.blake2b(task_type.encode(), digest_size=16)
    digest.update(b"\0")
    digest.update(data)
    return digest.hexdigest()


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or repr(tp)
