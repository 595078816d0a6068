"""Discord's official OpenAPI definition, applied to the requests the emulator gets.

The definition is the cut in ``tests/spec/discord/openapi.json`` (see SOURCE.md there:
repository, commit, how to regenerate). Each request is matched to its operation
(method + path template); its query parameters and its body (JSON, or the
``payload_json`` part of a multipart upload) are validated with ``jsonschema``
against the operation's schemas. The spec declares no ``jsonSchemaDialect``, so it
is OpenAPI 3.1's default dialect: JSON Schema 2020-12 (``format`` is an
annotation, not asserted; OpenAPI's ``discriminator`` is ignored).

Failures come back in Discord's own error format: 400 ``{"code": 50035, "message":
"Invalid Form Body", "errors": {...}}`` with ``errors`` nested by field path
(``{"embeds": {"0": {"title": {"_errors": [{"code": ..., "message": ...}]}}}}``)
and the error codes Discord uses (``BASE_TYPE_MAX_LENGTH``, ``NUMBER_TYPE_COERCE``,
``BASE_TYPE_CHOICES``, ...).

Where the spec is stricter than the real API for something discord.py really sends,
``SPEC_EXCEPTIONS`` relaxes exactly that schema, with the reason; nothing else is
loosened.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import jsonschema
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

JSON = dict[str, Any]

SPEC_PATH = Path(__file__).resolve().parents[2] / "spec" / "discord" / "openapi.json"
_SPEC_URI = "urn:threadbridge:discord-openapi"
_BOOLEANS = {"true": True, "false": False, "1": True, "0": False}
_INT_RE = re.compile(r"^-?\d+$")


@dataclass(frozen=True)
class SpecException:
    """One place where the emulator accepts more than the spec, and why."""

    schema: str  # a JSON pointer into openapi.json
    replacement: JSON  # what the schema at that pointer becomes
    reason: str


SPEC_EXCEPTIONS: tuple[SpecException, ...] = (
    SpecException(
        schema="/components/schemas/SnowflakeType",
        replacement={
            "anyOf": [
                {"type": "string", "pattern": "^(0|[1-9][0-9]*)$", "format": "snowflake"},
                {"type": "integer", "minimum": 0, "maximum": 18446744073709551615},
            ]
        },
        reason=(
            "discord.py sends ids as JSON integers (message_reference.message_id, "
            "allowed_mentions.users, attachments[].id, recipient_id, ...); Discord accepts "
            "an integer wherever it takes a snowflake string."
        ),
    ),
)


@dataclass
class FieldError:
    """One field's error, as Discord reports it."""

    path: tuple[str, ...]  # () for the body itself
    code: str
    message: str
    detail: str  # jsonschema's own message, for people reading test failures


@dataclass
class SpecViolation:
    """A request the spec rejects (answered 400 / 50035)."""

    method: str
    path: str  # as requested, relative to the API base
    operation_id: str
    template: str  # the spec's path template
    location: str  # "query" or "body"
    errors: list[FieldError]
    body: Any = None
    query: dict[str, str] = field(default_factory=dict)

    @property
    def discord_errors(self) -> JSON:
        """The ``errors`` member of Discord's 50035 answer."""
        return nest_errors(self.errors)

    def __str__(self) -> str:
        lines = [f"{self.method} {self.path} ({self.operation_id}, {self.location}):"]
        for e in self.errors:
            where = ".".join(e.path) or "<root>"
            lines.append(f"  {where}: {e.code} {e.message} [{e.detail}]")
        return "\n".join(lines)


def nest_errors(errors: Iterable[FieldError]) -> JSON:
    """Discord's nested error object: path parts as keys, ``_errors`` at the leaf."""
    root: JSON = {}
    for e in errors:
        node = root
        for part in e.path:
            node = node.setdefault(part, {})
        node.setdefault("_errors", []).append({"code": e.code, "message": e.message})
    return root


@dataclass
class Operation:
    method: str
    template: str
    operation_id: str
    regex: re.Pattern[str]
    literal_segments: int
    query: dict[str, tuple[JSON, bool]]  # name -> (schema, required)
    bodies: dict[str, JSON]  # content type -> schema
    body_required: bool


class DiscordSpec:
    """The cut OpenAPI definition with a validator per operation."""

    def __init__(
        self, path: Path = SPEC_PATH, exceptions: Iterable[SpecException] = SPEC_EXCEPTIONS
    ) -> None:
        raw = json.loads(path.read_text())
        self.raw: JSON = raw
        self.document: JSON = copy.deepcopy(raw)
        self.exceptions = tuple(exceptions)
        for exc in self.exceptions:
            _set_pointer(self.document, exc.schema, copy.deepcopy(exc.replacement))
        resource = Resource.from_contents(self.document, default_specification=DRAFT202012)
        self._registry: Registry[Any] = Registry().with_resource(_SPEC_URI, resource)
        self._validators: dict[str, jsonschema.protocols.Validator] = {}
        self.operations: list[Operation] = []
        for template, item in self.document["paths"].items():
            shared = item.get("parameters", [])
            for method, op in item.items():
                if method == "parameters":
                    continue
                self.operations.append(self._operation(method, template, op, shared))
        # most literal segments first: /users/@me before /users/{user_id}
        self.operations.sort(key=lambda o: -o.literal_segments)

    @cached_property
    def commit(self) -> str:
        source = (SPEC_PATH.parent / "SOURCE.md").read_text()
        found = re.search(r"Commit: `([0-9a-f]{40})`", source)
        return found.group(1) if found else "unknown"

    def _operation(self, method: str, template: str, op: JSON, shared: list[JSON]) -> Operation:
        pattern = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "/?$"
        query: dict[str, tuple[JSON, bool]] = {}
        for param in [*shared, *op.get("parameters", [])]:
            if param.get("in") == "query":
                query[param["name"]] = (param.get("schema", {}), bool(param.get("required")))
        body = op.get("requestBody") or {}
        bodies = {ct: media.get("schema", {}) for ct, media in body.get("content", {}).items()}
        return Operation(
            method=method.upper(),
            template=template,
            operation_id=op.get("operationId", f"{method} {template}"),
            regex=re.compile(pattern),
            literal_segments=sum(1 for s in template.split("/") if s and "{" not in s),
            query=query,
            bodies=bodies,
            body_required=bool(body.get("required")),
        )

    def match(self, method: str, path: str) -> Operation | None:
        for op in self.operations:
            if op.method == method.upper() and op.regex.match(path):
                return op
        return None

    def _validator(self, schema: JSON) -> jsonschema.protocols.Validator:
        key = json.dumps(schema, sort_keys=True)
        validator = self._validators.get(key)
        if validator is None:
            # refs inside are "#/components/...": resolve them in the spec document
            wrapped = {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}
            wrapped = _rebase_refs(wrapped)
            validator = jsonschema.Draft202012Validator(wrapped, registry=self._registry)
            self._validators[key] = validator
        return validator

    def check(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, str],
        body: Any = None,
        has_body: bool = False,
        content_type: str | None = None,
        variant: str | None = None,
    ) -> SpecViolation | None:
        """Validate one request; ``None`` when it conforms (or has no operation).

        ``variant`` names the component schema to use when the body schema is a
        union of all-optional variants only the resource tells apart (PATCH
        /channels/{id}: a thread, a guild channel or a DM), as Discord does.
        """
        op = self.match(method, path)
        if op is None:
            return None
        errors = self._check_query(op, query)
        location = "query"
        if not errors and has_body and op.bodies:
            schema = op.bodies.get(content_type or "") or op.bodies.get("application/json")
            if schema is not None:
                if variant is not None:
                    schema = _pick_variant(schema, variant)
                errors = self._errors(self._validator(schema), body)
                location = "body"
        if not errors:
            return None
        return SpecViolation(
            method=method.upper(),
            path=path,
            operation_id=op.operation_id,
            template=op.template,
            location=location,
            errors=errors,
            body=copy.deepcopy(body),
            query=dict(query),
        )

    def _check_query(self, op: Operation, query: Mapping[str, str]) -> list[FieldError]:
        errors: list[FieldError] = []
        for name, (schema, required) in op.query.items():
            if name not in query:
                if required:
                    errors.append(
                        FieldError((name,), "BASE_TYPE_REQUIRED", "This field is required", "")
                    )
                continue
            value = self._coerce_query(schema, query[name])
            for e in self._errors(self._validator(schema), value):
                e.path = (name, *e.path)
                errors.append(e)
        # Discord ignores query parameters it does not know; so does the emulator.
        return errors

    def _coerce_query(self, schema: JSON, raw: str) -> Any:
        """Query values are strings; Discord parses them by the parameter's type."""
        types = _schema_types(self._resolve(schema))
        if "boolean" in types and raw.lower() in _BOOLEANS:
            return _BOOLEANS[raw.lower()]
        if types & {"integer", "number"} and _INT_RE.match(raw):
            return int(raw)
        if "number" in types:
            try:
                return float(raw)
            except ValueError:
                return raw
        return raw

    def _resolve(self, schema: JSON) -> JSON:
        seen = 0
        while "$ref" in schema and seen < 10:
            schema = _get_pointer(self.document, schema["$ref"].removeprefix("#"))
            seen += 1
        return schema

    def _errors(self, validator: jsonschema.protocols.Validator, instance: Any) -> list[FieldError]:
        out: dict[tuple[str, ...], FieldError] = {}
        for error in validator.iter_errors(instance):
            for fe in _to_discord(error):
                out.setdefault(fe.path, fe)  # Discord names one problem per field
        return list(out.values())


# ----------------------------------------------------------------------------
# jsonschema error -> Discord error
# ----------------------------------------------------------------------------
def _to_discord(error: ValidationError) -> list[FieldError]:
    leaves = _leaves(error)
    if len(leaves) != 1 or leaves[0] is not error:
        return [fe for leaf in leaves for fe in _to_discord(leaf)]
    path = tuple(str(p) for p in error.absolute_path)
    schema = error.schema if isinstance(error.schema, dict) else {}
    kind, value, instance = error.validator, error.validator_value, error.instance
    detail = error.message
    if kind == "required":
        missing = [n for n in value if isinstance(instance, dict) and n not in instance]
        return [
            FieldError((*path, n), "BASE_TYPE_REQUIRED", "This field is required", detail)
            for n in missing
        ]
    if kind in ("oneOf", "anyOf") and _choices(value) is not None:
        return [FieldError(path, "BASE_TYPE_CHOICES", _one_of(_choices(value) or []), detail)]
    if kind in ("enum", "const"):
        choices = value if kind == "enum" else [value]
        return [FieldError(path, "BASE_TYPE_CHOICES", _one_of(choices), detail)]
    if kind in ("maxLength", "maxItems", "minLength", "minItems"):
        return [_length_error(path, schema, kind, value, detail)]
    if kind == "maximum":
        message = f"int value should be less than or equal to {value}."
        return [FieldError(path, "NUMBER_TYPE_MAX", message, detail)]
    if kind == "minimum":
        message = f"int value should be greater than or equal to {value}."
        return [FieldError(path, "NUMBER_TYPE_MIN", message, detail)]
    if kind == "pattern":
        if schema.get("format") == "snowflake":
            message = f'Value "{instance}" is not snowflake.'
            return [FieldError(path, "NUMBER_TYPE_COERCE", message, detail)]
        message = "String value did not match validation regex."
        return [FieldError(path, "STRING_TYPE_REGEX", message, detail)]
    if kind == "type":
        return [_type_error(path, value, instance, detail)]
    if kind == "uniqueItems":
        return [FieldError(path, "BASE_TYPE_UNIQUE", "Must be unique.", detail)]
    if kind in ("additionalProperties", "unevaluatedProperties"):
        return [FieldError(path, "UNKNOWN_FIELD", "Unknown field.", detail)]
    if kind in ("oneOf", "anyOf"):
        message = "Value does not match any union type."
        return [FieldError(path, "UNION_TYPE_CHOICES", message, detail)]
    return [FieldError(path, "BASE_TYPE_INVALID", detail, detail)]


def _leaves(error: ValidationError) -> list[ValidationError]:
    """The errors to report for ``error``: itself, or for a failed union (oneOf /
    anyOf, which the spec uses for nullable fields and variants) the errors of the
    branch the instance most likely meant, i.e. not a branch of another type
    (``null``), preferably one whose required fields are all present, with the
    fewest errors."""
    if error.validator not in ("oneOf", "anyOf") or not error.context:
        return [error]
    if _choices(error.validator_value) is not None:
        return [error]
    branches: dict[int, list[ValidationError]] = {}
    for sub in error.context:
        branches.setdefault(int(sub.schema_path[0]), []).append(sub)
    if not branches:  # oneOf failed because more than one branch matched
        return [error]

    def wrong_type(errs: list[ValidationError]) -> bool:
        return any(e.validator == "type" and not e.relative_path for e in errs)

    def missing_required(errs: list[ValidationError]) -> bool:
        return any(e.validator == "required" and not e.relative_path for e in errs)

    def wrong_tag(errs: list[ValidationError]) -> bool:
        # a top-level field with fixed choices (e.g. an interaction callback's "type")
        # tells the variants apart
        return any(
            len(e.relative_path) == 1
            and (
                e.validator in ("const", "enum")
                or (e.validator in ("oneOf", "anyOf") and _choices(e.validator_value) is not None)
                or (e.validator == "allOf" and any(_is_choice(c) for c in e.context))
            )
            for e in errs
        )

    candidates = [errs for errs in branches.values() if not wrong_type(errs)]
    if not candidates:
        # every branch has another type: name the one that is not "null"
        schemas = error.validator_value
        candidates = [errs for i, errs in branches.items() if schemas[i] != {"type": "null"}]
        if len(candidates) != 1:
            return [error]
    return min(candidates, key=lambda errs: (wrong_tag(errs), missing_required(errs), len(errs)))


def _is_choice(error: ValidationError) -> bool:
    return error.validator in ("const", "enum") or (
        error.validator in ("oneOf", "anyOf") and _choices(error.validator_value) is not None
    )


def _choices(branches: Any) -> list[Any] | None:
    if not isinstance(branches, list) or not branches:
        return None
    values = []
    for b in branches:
        if not isinstance(b, dict) or "const" not in b:
            return None
        values.append(b["const"])
    return values


def _one_of(values: Iterable[Any]) -> str:
    shown = ", ".join(repr(v) if isinstance(v, str) else json.dumps(v) for v in values)
    return f"Value must be one of {{{shown}}}."


def _length_error(
    path: tuple[str, ...], schema: JSON, kind: str, value: Any, detail: str
) -> FieldError:
    # Discord: "Must be between 1 and 100 in length." where a field has both bounds
    unit = "Length" if kind.endswith("Length") else "Items"
    low, high = schema.get(f"min{unit}", 0), schema.get(f"max{unit}")
    if low and high is not None:
        return FieldError(
            path, "BASE_TYPE_BAD_LENGTH", f"Must be between {low} and {high} in length.", detail
        )
    if kind.startswith("max"):
        message = f"Must be {value} or fewer in length."
        return FieldError(path, "BASE_TYPE_MAX_LENGTH", message, detail)
    return FieldError(path, "BASE_TYPE_MIN_LENGTH", f"Must be {value} or more in length.", detail)


def _type_error(path: tuple[str, ...], expected: Any, instance: Any, detail: str) -> FieldError:
    types = {expected} if isinstance(expected, str) else set(expected)
    types.discard("null")
    shown = json.dumps(instance) if not isinstance(instance, str) else instance
    if not types:
        return FieldError(path, "BASE_TYPE_NULL", "This field must be null.", detail)
    if types & {"integer"}:
        return FieldError(path, "NUMBER_TYPE_COERCE", f'Value "{shown}" is not int.', detail)
    if types & {"number"}:
        return FieldError(path, "NUMBER_TYPE_COERCE", f'Value "{shown}" is not a number.', detail)
    if "string" in types:
        return FieldError(
            path, "STRING_TYPE_CONVERT", f'Could not interpret "{shown}" as string.', detail
        )
    if "boolean" in types:
        return FieldError(
            path, "BOOLEAN_TYPE_CONVERT", f'Could not interpret "{shown}" as boolean.', detail
        )
    if "object" in types:
        return FieldError(
            path, "DICT_TYPE_CONVERT", "Only dictionaries may be used in a ModelType", detail
        )
    if "array" in types:
        return FieldError(
            path, "LIST_TYPE_CONVERT", "Only iterables may be used in a ListType", detail
        )
    return FieldError(path, "BASE_TYPE_INVALID", detail, detail)


# ----------------------------------------------------------------------------
# small JSON helpers
# ----------------------------------------------------------------------------
def _schema_types(schema: JSON) -> set[str]:
    t = schema.get("type")
    if isinstance(t, str):
        return {t}
    if isinstance(t, list):
        return set(t)
    out: set[str] = set()
    for key in ("oneOf", "anyOf", "allOf"):
        for sub in schema.get(key, []):
            if isinstance(sub, dict):
                out |= _schema_types(sub)
    return out


def _pick_variant(schema: JSON, variant: str) -> JSON:
    ref = f"#/components/schemas/{variant}"
    for key in ("anyOf", "oneOf"):
        for branch in schema.get(key, []):
            if isinstance(branch, dict) and branch.get("$ref") == ref:
                return branch
    return schema


def _rebase_refs(node: Any) -> Any:
    if isinstance(node, dict):
        out = {k: _rebase_refs(v) for k, v in node.items()}
        ref = out.get("$ref")
        if isinstance(ref, str) and ref.startswith("#"):
            out["$ref"] = _SPEC_URI + ref
        return out
    if isinstance(node, list):
        return [_rebase_refs(v) for v in node]
    return node


def _pointer_parts(pointer: str) -> list[str]:
    return [p.replace("~1", "/").replace("~0", "~") for p in pointer.lstrip("/").split("/")]


def _get_pointer(doc: JSON, pointer: str) -> Any:
    node: Any = doc
    for part in _pointer_parts(pointer):
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


def _set_pointer(doc: JSON, pointer: str, value: Any) -> None:
    parts = _pointer_parts(pointer)
    parent = _get_pointer(doc, "/" + "/".join(parts[:-1])) if len(parts) > 1 else doc
    if parts[-1] not in parent:
        raise KeyError(f"SPEC_EXCEPTIONS: {pointer} is not in the spec (re-cut?)")
    parent[parts[-1]] = value


@functools.cache
def load_spec() -> DiscordSpec:
    """The spec, loaded once per process (validators are cached on it)."""
    return DiscordSpec()
