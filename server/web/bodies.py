"""JSON request bodies: capped in size and validated by a pydantic model.

Every HTTP route that reads a body goes through `read_body`, so an oversized
body is refused before it is buffered (413 body_too_large) and a body of the
wrong shape changes nothing (400 invalid_request).
"""

from __future__ import annotations

import json
from typing import TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request

from server.errors import ApiError

MAX_BODY_BYTES = 64 * 1024

ModelT = TypeVar("ModelT", bound=BaseModel)


async def read_raw_body(request: Request, max_bytes: int = MAX_BODY_BYTES) -> bytes:
    """The body bytes, refusing more than `max_bytes` whatever Content-Length claims."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise ApiError(413, "body_too_large", f"Request bodies are limited to {max_bytes} bytes.")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise ApiError(
                413, "body_too_large", f"Request bodies are limited to {max_bytes} bytes."
            )
        chunks.append(chunk)
    return b"".join(chunks)


def _describe(exc: ValidationError) -> str:
    parts: list[str] = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err["loc"]) or "body"
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)


async def read_body(request: Request, model: type[ModelT]) -> ModelT:
    """Parse and validate a JSON object body; a clear 400 names the first bad fields."""
    raw = await read_raw_body(request)
    try:
        data = json.loads(raw) if raw else {}
    except (ValueError, RecursionError) as exc:
        raise ApiError(400, "invalid_request", "The body is not valid JSON.") from exc
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_request", "The body must be a JSON object.")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ApiError(400, "invalid_request", _describe(exc)) from exc


class StrictBody(BaseModel):
    """Base of request bodies: exact types (no "100" for 100, no true for 1), no extra fields."""

    model_config = {"strict": True, "extra": "forbid"}
