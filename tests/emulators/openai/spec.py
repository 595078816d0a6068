"""Requests held to OpenAI's official OpenAPI definition (``tests/spec/openai/openapi.json``).

The definition is OpenAPI 3.1 without a ``jsonSchemaDialect``, so its schemas are JSON
Schema 2020-12 (``format`` is an annotation, not checked). Three reading rules make the
published document usable as written; they are not exceptions for particular requests:

- ``oneOf`` is read as a tagged union: with a ``discriminator`` whose property the
  instance carries, only the alternatives that admit that value are tried; otherwise any
  one alternative that matches is enough. Strict "exactly one" would reject the most
  basic input: ``{"type": "message", "role": "user", "content": [...]}`` matches both
  ``EasyInputMessage`` and ``Item``/``InputMessage``.
- ``nullable: true`` (an OpenAPI 3.0 keyword left in some schemas, e.g.
  ``UpdateVectorStoreRequest.name``) also admits ``null``.
- ``$recursiveRef: "#"`` (JSON Schema 2019-09, in ``CompoundFilter``) refers to the
  component it is written in.

Where the definition is stricter than the real API, the difference is allowed in
``SPEC_EXCEPTIONS`` below, each with the reason, rather than by loosening anything else.

A request is checked in its parts: the JSON body (or the multipart form fields, with the
uploaded files standing as strings), and the query parameters the operation declares
(``name[]`` and ``name[key]`` as the SDK writes arrays and objects). Unknown query
parameters are not checked. Errors are worded like the real API's
(``Missing required parameter: 'input[0].content[1].detail'.``).
"""

from __future__ import annotations

import copy
import functools
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, ValidationError, validators
from jsonschema.exceptions import best_match
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

__all__ = [
    "SPEC_EXCEPTIONS",
    "SPEC_FILE",
    "OpenAPISpec",
    "SpecException",
    "SpecViolation",
    "load_spec",
    "violations_text",
]

SPEC_FILE = Path(__file__).resolve().parents[2] / "spec" / "openai" / "openapi.json"
_BASE_URI = "urn:openai-openapi"
JSON = dict[str, Any]


@dataclass(frozen=True)
class SpecException:
    """One place where the emulator accepts more than the definition says."""

    component: str  # a name under components/schemas
    pointer: tuple[str, ...]  # where in that schema the value is replaced
    published: Any  # the value the definition has there (checked: a fixed spec shows)
    value: Any  # the replacement
    reason: str


# Keep this short, and say for each why the real API (and the SDK's types) accept it.
SPEC_EXCEPTIONS: tuple[SpecException, ...] = (
    SpecException(
        component="MCPApprovalResponse",
        pointer=("required",),
        published=["type", "request_id", "approve", "approval_request_id"],
        value=["type", "approve", "approval_request_id"],
        reason="the definition also requires `request_id`, a property it does not declare; "
        "the SDK's McpApprovalResponse (types/responses/response_input_item_param.py) has "
        "no such field and documents approval_request_id, approve and type as required",
    ),
)


@dataclass(frozen=True)
class SpecViolation:
    """A request the definition rejects (answered 400 when validation rejects)."""

    method: str
    path: str  # the request path, e.g. "/v1/responses"
    operation_id: str
    location: str  # "body" | "form" | "query"
    param: str | None  # the JSON path, as the API names it: "input[0].content[1].detail"
    message: str  # as the API words it
    code: str | None
    detail: str  # jsonschema's own message

    def __str__(self) -> str:
        return f"{self.method} {self.path} ({self.operation_id}): {self.message}"


@dataclass(frozen=True)
class _Operation:
    operation_id: str
    pointer: str  # JSON pointer of the operation object in the document
    op: JSON


# --------------------------------------------------------------------------- loading


def _pointer_escape(part: str) -> str:
    return part.replace("~", "~0").replace("/", "~1")


def _resolve(doc: JSON, ref: str) -> Any:
    if not ref.startswith("#/"):
        raise ValueError(f"only local references are supported, not {ref!r}")
    node: Any = doc
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


def _prepare(doc: JSON, exceptions: Iterable[SpecException]) -> JSON:
    """The document with the reading rules and the exceptions applied (a copy)."""
    doc = copy.deepcopy(doc)
    schemas: JSON = doc["components"]["schemas"]
    for exc in exceptions:
        node: Any = schemas[exc.component]
        for part in exc.pointer[:-1]:
            node = node[int(part)] if isinstance(node, list) else node[part]
        last: Any = int(exc.pointer[-1]) if isinstance(node, list) else exc.pointer[-1]
        if node[last] != exc.published:
            raise ValueError(
                f"SPEC_EXCEPTIONS: {exc.component}/{'/'.join(exc.pointer)} is now "
                f"{node[last]!r}, not {exc.published!r}: check whether the exception is "
                "still needed"
            )
        node[last] = copy.deepcopy(exc.value)

    def walk(node: Any, component: str | None) -> Any:
        if isinstance(node, list):
            return [walk(v, component) for v in node]
        if not isinstance(node, dict):
            return node
        out = {
            k: walk(v, component) if k not in ("enum", "const", "default") else v
            for k, v in node.items()
        }
        if out.pop("$recursiveRef", None) == "#" and component is not None:
            out["$ref"] = f"#/components/schemas/{_pointer_escape(component)}"
        out.pop("$recursiveAnchor", None)
        if out.pop("nullable", False) is True:
            out = {"anyOf": [out, {"type": "null"}]}
        return out

    doc["components"]["schemas"] = {name: walk(s, name) for name, s in schemas.items()}
    doc["paths"] = walk(doc["paths"], None)
    return doc


def _value_fits(doc: JSON, schema: Any, value: Any, depth: int = 0) -> bool:
    """A cheap check of a scalar against a property schema (const, enum, type, unions)."""
    if not isinstance(schema, dict) or depth > 20:
        return True
    if isinstance(schema.get("$ref"), str) and not _value_fits(
        doc, _resolve(doc, schema["$ref"]), value, depth + 1
    ):
        return False
    if "const" in schema and schema["const"] != value:
        return False
    if "enum" in schema and value not in schema["enum"]:
        return False
    kind = schema.get("type")
    kinds = kind if isinstance(kind, list) else [kind] if isinstance(kind, str) else []
    if kinds and not any(_scalar_type(value, k) for k in kinds):
        return False
    for key in ("anyOf", "oneOf"):
        subs = schema.get(key)
        if isinstance(subs, list) and not any(_value_fits(doc, s, value, depth + 1) for s in subs):
            return False
    subs = schema.get("allOf")
    return not (
        isinstance(subs, list) and not all(_value_fits(doc, s, value, depth + 1) for s in subs)
    )


def _scalar_type(value: Any, kind: str) -> bool:
    if kind == "string":
        return isinstance(value, str)
    if kind == "null":
        return value is None
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    return kind in ("object", "array") and isinstance(value, dict | list)


def _discriminator_admits(doc: JSON, schema: Any, prop: str, value: Any, depth: int = 0) -> bool:
    """Whether ``schema`` can hold ``value`` in the discriminator property ``prop``."""
    if not isinstance(schema, dict) or depth > 20:
        return True
    if isinstance(schema.get("$ref"), str) and not _discriminator_admits(
        doc, _resolve(doc, schema["$ref"]), prop, value, depth + 1
    ):
        return False
    declared = (schema.get("properties") or {}).get(prop)
    if declared is not None and not _value_fits(doc, declared, value):
        return False
    for key in ("oneOf", "anyOf"):
        subs = schema.get(key)
        if isinstance(subs, list) and not any(
            _discriminator_admits(doc, s, prop, value, depth + 1) for s in subs
        ):
            return False
    subs = schema.get("allOf")
    return not (
        isinstance(subs, list)
        and not all(_discriminator_admits(doc, s, prop, value, depth + 1) for s in subs)
    )


def _enum_values(doc: JSON, schema: Any, depth: int = 0) -> list[Any]:
    if not isinstance(schema, dict) or depth > 20:
        return []
    out: list[Any] = list(schema.get("enum") or [])
    if "const" in schema:
        out.append(schema["const"])
    if isinstance(schema.get("$ref"), str):
        out += _enum_values(doc, _resolve(doc, schema["$ref"]), depth + 1)
    for key in ("oneOf", "anyOf", "allOf"):
        for sub in schema.get(key) or []:
            out += _enum_values(doc, sub, depth + 1)
    return out


def _discriminator_values(doc: JSON, schema: Any, prop: str, depth: int = 0) -> list[Any]:
    if not isinstance(schema, dict) or depth > 20:
        return []
    out: list[Any] = []
    if isinstance(schema.get("$ref"), str):
        out += _discriminator_values(doc, _resolve(doc, schema["$ref"]), prop, depth + 1)
    declared = (schema.get("properties") or {}).get(prop)
    out += [v for v in _enum_values(doc, declared) if v is not None]
    for key in ("oneOf", "anyOf", "allOf"):
        for sub in schema.get(key) or []:
            out += _discriminator_values(doc, sub, prop, depth + 1)
    return out


def _validator_class(doc: JSON) -> Any:
    def one_of(validator: Any, one_of: list[Any], instance: Any, schema: JSON) -> Iterator[Any]:
        candidates = list(enumerate(one_of))
        prop = (schema.get("discriminator") or {}).get("propertyName")
        if prop and isinstance(instance, dict) and isinstance(instance.get(prop), str):
            value = instance[prop]
            narrowed = [(i, s) for i, s in candidates if _discriminator_admits(doc, s, prop, value)]
            if not narrowed:
                allowed: list[Any] = []
                for _, s in candidates:
                    for v in _discriminator_values(doc, s, prop):
                        if v not in allowed:
                            allowed.append(v)
                yield ValidationError(
                    f"{value!r} is not one of {allowed!r}",
                    validator="enum",
                    validator_value=allowed,
                    instance=value,
                    path=[prop],
                )
                return
            candidates = narrowed
        found: list[list[ValidationError]] = []
        for index, sub in candidates:
            errors = list(validator.descend(instance, sub, schema_path=index))
            if not errors:
                return
            found.append(errors)
        if len(found) == 1:
            yield from found[0]
            return
        yield ValidationError(
            f"{instance!r} is not valid under any of the given schemas",
            context=[e for errors in found for e in errors],
        )

    return validators.extend(Draft202012Validator, {"oneOf": one_of})


# --------------------------------------------------------------------------- messages


def _param(path: Iterable[Any], prefix: str = "") -> str:
    out = prefix
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out = f"{out}.{part}" if out else str(part)
    return out


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a decimal"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


_TYPE_WORDS = {
    "string": "a string",
    "integer": "an integer",
    "number": "a decimal",
    "boolean": "a boolean",
    "array": "an array",
    "object": "an object",
    "null": "null",
}


def _quote_list(values: Iterable[Any]) -> str:
    items = [f"'{v}'" if isinstance(v, str) else json.dumps(v) for v in values]
    if len(items) <= 2:
        return " and ".join(items)
    return ", ".join(items[:-1]) + ", and " + items[-1]


def _wording(error: ValidationError, root: str) -> tuple[str | None, str, str | None]:
    """(param, message, code) as the real API words a rejected parameter."""
    path = list(error.absolute_path)
    param = _param(path, root) or None
    named = f"'{param}'" if param else "the request body"
    kind, expected, instance = error.validator, error.validator_value, error.instance
    if kind == "required" and isinstance(instance, dict):
        missing = next((n for n in expected if n not in instance), expected[0])
        name = _param([*path, missing], root)
        return name, f"Missing required parameter: '{name}'.", "missing_required_parameter"
    if kind in ("additionalProperties", "unevaluatedProperties") and isinstance(instance, dict):
        schema = error.schema if isinstance(error.schema, dict) else {}
        known = set(schema.get("properties") or {})
        extra = next((k for k in instance if k not in known), None)
        name = _param([*path, extra], root) if extra is not None else param
        return name, f"Unknown parameter: '{name}'.", "unknown_parameter"
    if kind == "type":
        wanted = expected if isinstance(expected, list) else [expected]
        words = " or ".join(_TYPE_WORDS.get(t, t) for t in wanted)
        message = (
            f"Invalid type for {named}: expected {words}, but got {_json_type(instance)} instead."
        )
        return param, message, "invalid_type"
    if kind in ("enum", "const"):
        values = expected if kind == "enum" else [expected]
        shown = f"'{instance}'" if isinstance(instance, str) else json.dumps(instance)
        message = f"Invalid value: {shown}. Supported values are: {_quote_list(values)}."
        return param, message, "invalid_value"
    if kind in ("maxItems", "minItems") and isinstance(instance, list):
        longer = kind == "maxItems"
        message = (
            f"Invalid {named}: array too {'long' if longer else 'short'}. Expected an array "
            f"with {'maximum' if longer else 'minimum'} length {expected}, but got an array "
            f"with length {len(instance)} instead."
        )
        code = "array_above_max_length" if longer else "array_below_min_length"
        return param, message, code
    if kind in ("maxLength", "minLength") and isinstance(instance, str):
        longer = kind == "maxLength"
        message = (
            f"Invalid {named}: string too {'long' if longer else 'short'}. Expected a string "
            f"with {'maximum' if longer else 'minimum'} length {expected}, but got a string "
            f"with length {len(instance)} instead."
        )
        code = "string_above_max_length" if longer else "string_below_min_length"
        return param, message, code
    if kind in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        number = "integer" if isinstance(instance, int) else "decimal"
        below = kind in ("minimum", "exclusiveMinimum")
        op = {"minimum": ">=", "maximum": "<=", "exclusiveMinimum": ">", "exclusiveMaximum": "<"}
        message = (
            f"Invalid {named}: {number} {'below minimum' if below else 'above maximum'} value. "
            f"Expected a value {op[kind]} {expected}, but got {instance} instead."
        )
        code = f"{number}_{'below_min' if below else 'above_max'}_value"
        return param, message, code
    if kind in ("oneOf", "anyOf") and error.context:
        # Every alternative failed on its type, here: say which types would do.
        here = [e for e in error.context if list(e.absolute_path) == path]
        if here and all(e.validator == "type" for e in here):
            wanted: list[str] = []
            for e in here:
                for t in (
                    e.validator_value
                    if isinstance(e.validator_value, list)
                    else [e.validator_value]
                ):
                    if _TYPE_WORDS.get(t, t) not in wanted:
                        wanted.append(_TYPE_WORDS.get(t, t))
            message = (
                f"Invalid type for {named}: expected one of {' or '.join(wanted)}, "
                f"but got {_json_type(instance)} instead."
            )
            return param, message, "invalid_type"
    return param, f"Invalid {named}: {error.message}", "invalid_value"


# --------------------------------------------------------------------------- form/query


def _bracket_path(key: str) -> list[str]:
    """``a[b][]`` -> ["a", "b", ""]."""
    head, _, rest = key.partition("[")
    parts = [head]
    if rest:
        parts += rest[:-1].split("][") if rest.endswith("]") else [rest]
    return parts


def _nest(pairs: Iterable[tuple[str, Any]]) -> JSON:
    """Form fields or query items, as the SDK flattens them, back into JSON."""
    out: JSON = {}
    for key, value in pairs:
        parts = _bracket_path(key)
        node: Any = out
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            following = None if last else parts[i + 1]
            if part == "" and isinstance(node, list):
                if last:
                    node.append(value)
                else:
                    node.append({})
                    node = node[-1]
                continue
            if last:
                node[part] = value
            else:
                node = node.setdefault(part, [] if following == "" else {})
    return out


class OpenAPISpec:
    """The cut definition, ready to check requests. ``load_spec()`` gives a shared one."""

    def __init__(
        self, document: JSON, *, exceptions: Iterable[SpecException] = SPEC_EXCEPTIONS
    ) -> None:
        self.raw = document
        self.version = str(document.get("openapi"))
        if not self.version.startswith("3.1"):
            raise ValueError(f"expected OpenAPI 3.1 (JSON Schema 2020-12), got {self.version}")
        self.exceptions = tuple(exceptions)
        self.document = _prepare(document, self.exceptions)
        resource = Resource.from_contents(self.document, default_specification=DRAFT202012)
        self._registry: Registry[Any] = Registry().with_resource(_BASE_URI, resource)
        self._validator_cls = _validator_class(self.document)
        self._validators: dict[str, Any] = {}
        self._routes: list[tuple[re.Pattern[str], str, JSON]] = []
        for template, item in self.document["paths"].items():
            regex = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(template))
            self._routes.append((re.compile(f"^{regex}$"), template, item))

    # ---------------------------------------------------------------- lookup

    def operation(self, method: str, path: str) -> _Operation | None:
        """The operation serving ``path`` (with or without the ``/v1`` prefix)."""
        if path.startswith("/v1/"):
            path = path[3:]
        path = path.rstrip("/") or "/"
        for regex, template, item in self._routes:
            if regex.match(path) and method.lower() in item:
                op = item[method.lower()]
                pointer = f"#/paths/{_pointer_escape(template)}/{method.lower()}"
                merged = dict(op)
                shared = item.get("parameters") or []
                if shared:
                    merged["parameters"] = [*shared, *(op.get("parameters") or [])]
                return _Operation(str(op.get("operationId") or template), pointer, merged)
        return None

    def _validator(self, pointer: str) -> Any:
        found = self._validators.get(pointer)
        if found is None:
            found = self._validator_cls({"$ref": _BASE_URI + pointer}, registry=self._registry)
            self._validators[pointer] = found
        return found

    def _deref(self, schema: Any) -> Any:
        while isinstance(schema, dict) and isinstance(schema.get("$ref"), str):
            schema = _resolve(self.document, schema["$ref"])
        return schema

    # ---------------------------------------------------------------- coercion

    def _coerce(self, value: Any, schema: Any) -> Any:
        """A form/query string as the JSON value the schema expects, when it is one."""
        schema = self._deref(schema)
        if not isinstance(schema, dict):
            return value
        if isinstance(value, list):
            return [self._coerce(v, schema.get("items")) for v in value]
        if isinstance(value, dict):
            props = schema.get("properties") or {}
            for alt in (schema.get("anyOf") or []) + (schema.get("oneOf") or []):
                alt = self._deref(alt)
                if isinstance(alt, dict) and alt.get("properties"):
                    props = {**alt["properties"], **props}
            return {k: self._coerce(v, props.get(k)) for k, v in value.items()}
        if not isinstance(value, str):
            return value
        types: list[str] = []
        for alt in [schema, *(schema.get("anyOf") or []), *(schema.get("oneOf") or [])]:
            alt = self._deref(alt)
            if isinstance(alt, dict):
                t = alt.get("type")
                types += t if isinstance(t, list) else [t] if isinstance(t, str) else []
        if "string" in types:
            return value
        for t in types:
            if t == "integer" and re.fullmatch(r"-?\d+", value):
                return int(value)
            if t == "number" and re.fullmatch(r"-?\d+(\.\d*)?([eE][-+]?\d+)?", value):
                return float(value)
            if t == "boolean" and value in ("true", "false"):
                return value == "true"
        return value

    # ---------------------------------------------------------------- checking

    def check(
        self,
        method: str,
        path: str,
        *,
        query: Iterable[tuple[str, str]] = (),
        content_type: str = "",
        body: Any = None,
        form: Iterable[tuple[str, Any]] | None = None,
    ) -> list[SpecViolation]:
        """What the definition rejects in one request; [] if it accepts it (or has no
        operation for it). ``form`` (multipart fields; files as their file names) stands
        for the body when given."""
        operation = self.operation(method, path)
        if operation is None:
            return []
        found: list[SpecViolation] = []

        def add(location: str, error: ValidationError, root: str = "") -> None:
            param, message, code = _wording(error, root)
            found.append(
                SpecViolation(
                    method=method,
                    path=path,
                    operation_id=operation.operation_id,
                    location=location,
                    param=param,
                    message=message,
                    code=code,
                    detail=error.message,
                )
            )

        query_pairs = list(query)
        for index, param in enumerate(operation.op.get("parameters") or []):
            param = self._deref(param)
            if param.get("in") != "query":
                continue
            name = param["name"]
            mine = [(k, v) for k, v in query_pairs if k == name or k.startswith(name + "[")]
            values = [v for _, v in mine]
            if not values:
                if param.get("required"):
                    error = ValidationError(
                        f"{name!r} is a required property",
                        validator="required",
                        validator_value=[name],
                        instance={},
                    )
                    add("query", error)
                continue
            schema = self._deref(param.get("schema") or {})
            value = self._coerce(_nest(mine).get(name), schema)
            if schema.get("type") == "array" and not isinstance(value, list):
                value = [value]
            pointer = f"{operation.pointer}/parameters/{index}/schema"
            validator = self._validator(pointer)
            error = best_match(validator.iter_errors(value))
            if error is not None:
                add("query", error, name)

        request_body = self._deref(operation.op.get("requestBody") or {})
        content: JSON = request_body.get("content") or {}
        if form is not None:
            media = next((m for m in content if m.startswith("multipart/")), None)
            location = "form"
        else:
            media = "application/json" if "application/json" in content else None
            location = "body"
        if not content:
            return found
        if media is None:
            accepted = " or ".join(content)
            found.append(
                SpecViolation(
                    method=method,
                    path=path,
                    operation_id=operation.operation_id,
                    location="body",
                    param=None,
                    message=f"Invalid Content-Type header ({content_type or 'none'}), "
                    f"expected {accepted}.",
                    code=None,
                    detail=f"content type {content_type!r} is not one of {list(content)}",
                )
            )
            return found
        pointer = f"{operation.pointer}/requestBody/content/{_pointer_escape(media)}/schema"
        if form is not None:
            instance: Any = self._coerce(_nest(form), content[media].get("schema"))
        else:
            instance = body
        if instance is None:
            if not request_body.get("required"):
                return found
            instance = {}
        error = best_match(self._validator(pointer).iter_errors(instance))
        if error is not None:
            add(location, error)
        return found


@functools.cache
def load_spec(path: Path = SPEC_FILE) -> OpenAPISpec:
    """The vendored definition, read once per process."""
    return OpenAPISpec(json.loads(path.read_text(encoding="utf-8")))


def violations_text(violations: Iterable[SpecViolation]) -> str:
    """One line per violation, for assertion messages."""
    return "\n".join(str(v) for v in violations)
