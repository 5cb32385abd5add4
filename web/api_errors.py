"""The JSON API's error answers: `{error, detail}` with a status, for every /api/v1 blueprint."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Response, jsonify

from acceptance.engine.spec import SpecError
from acceptance.errors import PlatformError, UserInputError
from acceptance.service.access import Conflict, Forbidden, NotFound


class ApiError(Exception):
    def __init__(self, status: int, error: str, detail: Any) -> None:
        super().__init__(detail)
        self.status, self.error, self.detail = status, error, detail


def _api_error(exc: ApiError) -> Response:
    response = jsonify(error=exc.error, detail=exc.detail)
    response.status_code = exc.status
    if exc.status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="acceptance"'
    return response


def _input_error(exc: UserInputError) -> Response:
    detail: object
    if isinstance(exc, SpecError):
        status, error, detail = 422, "invalid_spec", list(exc.problems)
    elif isinstance(exc, NotFound):
        status, error, detail = 404, "not_found", exc.message
    elif isinstance(exc, Forbidden):
        status, error, detail = 403, "forbidden", exc.message
    elif isinstance(exc, Conflict):
        status, error, detail = 409, "conflict", exc.message
    else:
        status, error, detail = 422, "invalid_input", exc.diagnostics()
    response = jsonify(error=error, detail=detail)
    response.status_code = status
    return response


def _platform_error(exc: PlatformError) -> Response:
    response = jsonify(error="unavailable", detail=exc.message)
    response.status_code = 503
    return response


#: every /api/v1 blueprint registers these: the same `{error, detail}` answers
API_ERROR_HANDLERS: dict[type[Exception], Callable[[Any], Response]] = {
    ApiError: _api_error, UserInputError: _input_error, PlatformError: _platform_error,
}  # fmt: skip
