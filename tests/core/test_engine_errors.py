"""bot.engine.errors: API errors recognised by their code and parameter, as the SDK
parses them from the error body."""

from __future__ import annotations

from typing import Any

import httpx2
import openai

from bot.engine.errors import is_container_gone, is_conversation_gone, is_locked


def error(status: int, message: str, *, code: str | None = None, param: str | None = None) -> Any:
    request = httpx2.Request("POST", "https://api.test/v1/responses")
    body = {"message": message, "type": "invalid_request_error", "param": param, "code": code}
    response = httpx2.Response(status, request=request, json={"error": body})
    kind = {400: openai.BadRequestError, 404: openai.NotFoundError}.get(
        status, openai.InternalServerError
    )
    # As the SDK raises it: the body is the `error` object.
    return kind(message, response=response, body=body)


def test_a_locked_conversation_is_known_by_its_code() -> None:
    assert is_locked(error(400, "Another process is busy.", code="conversation_locked"))
    # The wording alone is not enough.
    assert not is_locked(error(400, "Another process is currently operating on this conversation"))


def test_a_gone_container_by_code_or_by_the_real_apis_codeless_message() -> None:
    assert is_container_gone(error(400, "x", code="container_expired", param="tools[0].container"))
    assert is_container_gone(error(404, "x", code="container_not_found"))
    # What the real API answers for an expired container: no code, no param.
    assert is_container_gone(error(400, "Container is expired."))
    assert not is_container_gone(error(400, "Container is expired.", code="invalid_value"))
    assert not is_container_gone(error(500, "Container is expired."))
    assert not is_container_gone(error(400, "Missing required parameter.", code="missing"))


def test_a_gone_conversation_is_a_404_about_the_conversation_parameter() -> None:
    assert is_conversation_gone(
        error(404, "Conversation with id 'c' not found.", param="conversation")
    )
    assert is_conversation_gone(error(404, "x", code="conversation_not_found"))
    assert is_conversation_gone(error(404, "Conversation with id 'c' not found."))
    assert not is_conversation_gone(
        error(404, "The model 'm' does not exist", code="model_not_found")
    )
    assert not is_conversation_gone(error(404, "conversation? no: file", param="input[0].file_id"))
    assert not is_conversation_gone(error(400, "x", param="conversation"))
