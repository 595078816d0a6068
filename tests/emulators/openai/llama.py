"""What llama.cpp's ``llama-server`` does differently from OpenAI, for the compat mode.

Read from the llama.cpp sources in the llama-cpp-python 0.3.36 sdist
(``vendor/llama.cpp/tools/server/``); each rule names the function it mirrors:

- Routes (``server.cpp``): of the paths the bot uses only ``POST /v1/responses``,
  ``GET /v1/models`` and ``POST /v1/audio/transcriptions`` exist (plus ``GET /health``,
  ``GET /v1/health``). Anything else, whatever the method, is cpp-httplib's 404, which
  ``server-http.cpp``'s error handler answers with
  ``{"error": {"code": 404, "message": "File Not Found", "type": "not_found_error"}}``.
- API key (``server-http.cpp`` ``middleware_validate_api_key``, before routing): 401
  ``Invalid API Key`` / ``authentication_error``; ``/health`` and ``/v1/health`` are public.
- Errors (``server.cpp`` ``ex_wrapper`` + ``server-common.cpp``
  ``format_error_response``): ``std::invalid_argument`` -> 400 ``invalid_request_error``,
  any other exception -> 500 ``server_error``; the body is
  ``{"error": {"code": <status>, "message": ..., "type": ...}}`` (no ``param``).
- ``POST /v1/responses`` (``server-chat.cpp`` ``server_chat_convert_responses_to_chatcmpl``,
  then ``server-common.cpp`` ``oaicompat_chat_params_parse``): the checks below, in the
  same order and with the same messages. Non-function tools are dropped (a warning in
  the server log), ``conversation``, ``store``, ``background`` and other unknown fields
  are copied along and ignored, the ``model`` field is not looked at.
- ``GET /v1/models`` (``server-context.cpp`` ``get_res_models``): one model, ``owned_by``
  ``llamacpp``, with an extra ``models`` list beside ``data``.
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

from aiohttp import web

__all__ = [
    "COMPAT_MODES",
    "IMAGE_NOT_SUPPORTED",
    "LlamaError",
    "check_responses_body",
    "health_json",
    "models_json",
    "routes",
]

COMPAT_MODES = frozenset({"llama.cpp"})
IMAGE_NOT_SUPPORTED = (
    "image input is not supported - hint: if this is unexpected, you may need to provide the mmproj"
)
AUDIO_NOT_SUPPORTED = "The current model does not support audio input."
JSON_CONTENT_TYPE = "application/json; charset=utf-8"

JSON = dict[str, Any]


class LlamaError(Exception):
    """Answered as llama-server answers: ``{"error": {"code", "message", "type"}}``."""

    TYPES: ClassVar[dict[int, str]] = {
        400: "invalid_request_error",
        401: "authentication_error",
        404: "not_found_error",
        500: "server_error",
        501: "not_supported_error",
        503: "unavailable_error",
    }

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = self.TYPES.get(status, "server_error")

    @classmethod
    def invalid(cls, message: str) -> LlamaError:
        """What ``std::invalid_argument`` becomes."""
        return cls(400, message)

    @classmethod
    def runtime(cls, message: str) -> LlamaError:
        """What any other ``std::exception`` becomes."""
        return cls(500, message)

    def to_response(self) -> web.Response:
        # nlohmann::json keeps keys sorted: code, message, type.
        body = {"error": {"code": self.status, "message": self.message, "type": self.type}}
        return web.json_response(
            body,
            status=self.status,
            content_type="application/json",
            headers={"Server": "llama.cpp"},
        )


NOT_FOUND = "File Not Found"


def routes() -> dict[tuple[str, str], str]:
    """(method, path) -> the handler name the emulator uses for it."""
    return {
        ("POST", "/v1/responses"): "responses",
        ("POST", "/responses"): "responses",
        ("GET", "/v1/models"): "models",
        ("GET", "/models"): "models",
        ("POST", "/v1/audio/transcriptions"): "transcriptions",
        ("POST", "/audio/transcriptions"): "transcriptions",
        ("GET", "/health"): "health",
        ("GET", "/v1/health"): "health",
    }


PUBLIC_PATHS = frozenset({"/health", "/v1/health"})


def _is_str(value: Any, key: str) -> bool:
    return isinstance(value, dict) and isinstance(value.get(key), str)


def _is_list(value: Any, key: str) -> bool:
    return isinstance(value, dict) and isinstance(value.get(key), list)


def _str_value(value: Any, key: str) -> str:
    """``json_value(j, key, std::string())``: the string, or "" if absent/null/not one."""
    if isinstance(value, dict) and isinstance(value.get(key), str):
        return str(value[key])
    return ""


def check_responses_body(body: Any, *, images: bool) -> JSON:
    """Raise ``LlamaError`` where llama-server rejects a ``POST /v1/responses`` body.

    Returns the body with what llama-server drops removed (non-function tools) and
    without the fields it ignores that the emulator would act on (``conversation``,
    ``previous_response_id``, ``background``).
    """
    if not isinstance(body, dict) or "input" not in body:
        raise LlamaError.invalid("'input' is required")
    if _str_value(body, "previous_response_id"):
        raise LlamaError.invalid("llama.cpp does not support 'previous_response_id'.")
    value = body["input"]
    messages: list[JSON] = []
    if isinstance(value, list):
        for raw in value:
            merge_prev = bool(messages) and messages[-1].get("role") == "assistant"
            item = dict(raw) if isinstance(raw, dict) else raw
            if _is_str(item, "content"):
                item["content"] = [{"text": item["content"], "type": "input_text"}]
            if (
                _is_list(item, "content")
                and _is_str(item, "role")
                and item["role"] in ("user", "system", "developer")
            ):
                content = []
                for part in item["content"]:
                    kind = _str_value(part, "type")
                    if kind == "input_text":
                        if not (isinstance(part, dict) and "text" in part):
                            raise LlamaError.invalid("'Input text' requires 'text'")
                        content.append({"type": "text", "text": part["text"]})
                    elif kind == "input_image":
                        # llama.cpp's comment: `detail` "has default value("auto") and can
                        # be omitted".
                        if not (isinstance(part, dict) and "image_url" in part):
                            raise LlamaError.invalid("'image_url' is required")
                        content.append({"type": "image_url", "image_url": part["image_url"]})
                    elif kind == "input_file":
                        raise LlamaError.invalid(
                            "'input_file' is not supported by llamacpp at this moment"
                        )
                    else:
                        raise LlamaError.invalid(
                            "'type' must be one of 'input_text', 'input_image', or 'input_file'"
                        )
                messages.append({"role": item["role"], "content": content})
            elif (
                _is_str(item, "role")
                and item["role"] == "assistant"
                and _is_str(item, "type")
                and item["type"] == "message"
            ):
                content = []
                for part in item.get("content") if _is_list(item, "content") else []:
                    kind = _str_value(part, "type")
                    if kind in ("output_text", "input_text"):
                        if not _is_str(part, "text"):
                            raise LlamaError.invalid("'Output text' requires 'text'")
                        content.append({"type": "text", "text": part["text"]})
                    elif kind == "refusal":
                        if not _is_str(part, "refusal"):
                            raise LlamaError.invalid("'Refusal' requires 'refusal'")
                        content.append({"type": "refusal", "refusal": part["refusal"]})
                    else:
                        raise LlamaError.invalid("'type' must be one of 'output_text' or 'refusal'")
                if merge_prev:
                    messages[-1].setdefault("content", []).extend(content)
                else:
                    messages.append({"role": "assistant", "content": content})
            elif (
                _is_str(item, "arguments")
                and _is_str(item, "call_id")
                and _is_str(item, "name")
                and item.get("type") == "function_call"
            ):
                if merge_prev:
                    messages[-1].setdefault("tool_calls", []).append(item["call_id"])
                else:
                    messages.append({"role": "assistant", "tool_calls": [item["call_id"]]})
            elif (
                _is_str(item, "call_id")
                and (_is_str(item, "output") or _is_list(item, "output"))
                and item.get("type") == "function_call_output"
            ):
                output = item["output"]
                if isinstance(output, list):
                    parts = []
                    for part in output:
                        if not (isinstance(part, dict) and "type" in part):
                            raise LlamaError.invalid("Output of tool call missing 'type' field")
                        if part["type"] not in ("input_text", "input_image"):
                            raise LlamaError.invalid(
                                "Output of tool call should be 'Input text' or 'Input image'"
                            )
                        if part["type"] == "input_image":
                            if "image_url" not in part:
                                raise LlamaError.invalid("'image_url' is required")
                            parts.append({"type": "image_url"})
                        else:
                            parts.append({"type": "text"})
                    messages.append({"role": "tool", "content": parts})
                else:
                    messages.append({"role": "tool", "content": output})
            elif _is_list(item, "summary") and item.get("type") == "reasoning":
                if not _is_list(item, "content"):
                    raise LlamaError.invalid("item['content'] is not an array")
                if not item["content"]:
                    raise LlamaError.invalid("item['content'] is empty")
                if not _is_str(item["content"][0], "text"):
                    raise LlamaError.invalid("item['content']['text'] is not a string")
                if not merge_prev:
                    messages.append({"role": "assistant", "content": []})
            else:
                raise LlamaError.invalid("Cannot determine type of 'item'")
    elif not isinstance(value, str):
        raise LlamaError.invalid("'input' must be a string or array of objects")

    out = {
        k: v
        for k, v in body.items()
        if k not in ("conversation", "previous_response_id", "background")
    }
    if "tools" in body:
        if not isinstance(body["tools"], list):
            raise LlamaError.invalid("'tools' must be an array of objects")
        kept = [t for t in body["tools"] if _str_value(t, "type") == "function"]
        if kept:
            out["tools"] = kept
        else:
            out.pop("tools")

    # oaicompat_chat_params_parse: media parts of every message, in order.
    for message in messages:
        content = message.get("content")
        if not isinstance(content, list):
            continue
        for part in content:
            kind = _str_value(part, "type")
            if kind == "image_url":
                if not images:
                    raise LlamaError.runtime(IMAGE_NOT_SUPPORTED)
            elif kind != "text":
                raise LlamaError.invalid("unsupported content[].type")
    if not body.get("logprobs") and body.get("top_logprobs") is not None:
        raise LlamaError.invalid("top_logprobs requires logprobs to be set to true")
    return out


def models_json(model: str) -> JSON:
    """``GET /v1/models`` as ``get_res_models`` builds it (one loaded model)."""
    return {
        "models": [
            {
                "name": model,
                "model": model,
                "modified_at": "",
                "size": "",
                "digest": "",
                "type": "model",
                "description": "",
                "tags": [""],
                "capabilities": ["completion"],
                "parameters": "",
                "details": {
                    "parent_model": "",
                    "format": "gguf",
                    "family": "",
                    "families": [""],
                    "parameter_size": "",
                    "quantization_level": "",
                },
            }
        ],
        "object": "list",
        "data": [
            {
                "id": model,
                "aliases": [model],
                "tags": [],
                "object": "model",
                "created": int(time.time()),
                "owned_by": "llamacpp",
                "meta": {"vocab_type": 2, "n_vocab": 32, "n_ctx": 4096, "n_ctx_train": 4096},
            }
        ],
    }


def health_json() -> JSON:
    return {"status": "ok"}
