"""Function tools: plain Python functions offered to the model.

A deployer writes functions (sync or async) with type hints and a Google-style
docstring in a module of their own and names it in `THREADBRIDGE_TOOLS`. Each public
function becomes a strict JSON-schema function tool. A parameter annotated with
:class:`ToolContext` is filled in by threadbridge (the thread and the asking user) and
is not shown to the model.

Calls in one response run concurrently, each with a timeout; whatever goes wrong
becomes an error string for the model, never an exception in the service.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import json
import logging
import re
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, get_type_hints

import pydantic

from bot.models import ThreadKey

logger = logging.getLogger(__name__)

TRUNCATED = "\n[output truncated by threadbridge]"


@dataclass(frozen=True, slots=True)
class ToolContext:
    """Who is asking and where: pass-through for per-user tools."""

    thread: ThreadKey
    user_id: str
    user_name: str | None = None


@dataclass(frozen=True, slots=True)
class FunctionCall:
    call_id: str
    name: str
    arguments: str


def _docstring_parts(doc: str | None) -> tuple[str, dict[str, str]]:
    """Split a Google-style docstring into a summary and per-argument descriptions."""
    if not doc:
        return "", {}
    doc = inspect.cleandoc(doc)
    summary_lines: list[str] = []
    args: dict[str, str] = {}
    section = "summary"
    current: str | None = None
    for line in doc.splitlines():
        stripped = line.strip()
        if re.fullmatch(r"(Args|Arguments|Parameters):", stripped):
            section = "args"
            continue
        if re.fullmatch(r"[A-Z][a-z]+( [A-Z]?[a-z]+)*:", stripped):
            section = "other"
            continue
        if section == "summary":
            summary_lines.append(stripped)
        elif section == "args" and stripped:
            match = re.match(r"(\w+)\s*(\([^)]*\))?\s*:\s*(.*)", stripped)
            if match and line.startswith((" ", "\t")) and not line.startswith(("        ",)):
                current = match.group(1)
                args[current] = match.group(3)
            elif current:
                args[current] += " " + stripped
    return " ".join(part for part in summary_lines if part).strip(), args


def _strict(schema: dict[str, Any]) -> dict[str, Any]:
    """Make a pydantic JSON schema acceptable to `strict: true` function calling."""
    defs = schema.pop("$defs", None)

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            node = {k: walk(v) for k, v in node.items() if k not in ("title", "default")}
            if node.get("type") == "object" or "properties" in node:
                props = node.setdefault("properties", {})
                node["required"] = list(props)
                node["additionalProperties"] = False
            return node
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    result: dict[str, Any] = walk(schema)
    if defs:
        result["$defs"] = {name: walk(value) for name, value in defs.items()}
    return result


APPROVAL_ATTRIBUTE = "__threadbridge_requires_approval__"

F = TypeVar("F", bound=Callable[..., Any])


def requires_approval(func: F) -> F:
    """Mark a function tool as needing a person's approval before each call: the turn
    pauses and the asker (or an admin) gets Approve / Deny buttons naming the call."""
    setattr(func, APPROVAL_ATTRIBUTE, True)
    return func


class FunctionTool:
    """One Python function, its schema and its validator."""

    def __init__(self, func: Callable[..., Any], *, name: str | None = None) -> None:
        self.func = func
        self.name = name or func.__name__
        self.requires_approval = bool(getattr(func, APPROVAL_ATTRIBUTE, False))
        summary, arg_docs = _docstring_parts(func.__doc__)
        self.description = summary or self.name.replace("_", " ")
        hints = get_type_hints(func, include_extras=True)
        self.context_param: str | None = None
        self.defaults: dict[str, Any] = {}
        fields: dict[str, Any] = {}
        signature = inspect.signature(func)
        for pname, param in signature.parameters.items():
            annotation = hints.get(pname, Any)
            if annotation is ToolContext:
                self.context_param = pname
                continue
            if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
                raise TypeError(f"tool {self.name}: *args/**kwargs are not supported")
            if annotation is Any:
                raise TypeError(f"tool {self.name}: parameter {pname!r} needs a type hint")
            if param.default is param.empty:
                fields[pname] = (annotation, pydantic.Field(description=arg_docs.get(pname)))
            else:
                # Strict schemas require every property; an optional one is nullable
                # and null means "use the default".
                self.defaults[pname] = param.default
                fields[pname] = (
                    annotation | None,
                    pydantic.Field(None, description=arg_docs.get(pname)),
                )
        self.model: type[pydantic.BaseModel] = pydantic.create_model(
            f"{self.name}_args", __config__=pydantic.ConfigDict(extra="forbid"), **fields
        )
        self.parameters = _strict(self.model.model_json_schema())

    def definition(self) -> dict[str, Any]:
        return {
            "type": "function",
            "name": self.name,
            "description": self.description,
            "parameters": self.parameters,
            "strict": True,
        }

    async def __call__(self, arguments: str, context: ToolContext) -> Any:
        raw = json.loads(arguments or "{}")
        parsed = self.model.model_validate(raw)
        kwargs = {name: getattr(parsed, name) for name in type(parsed).model_fields}
        for name, default in self.defaults.items():
            if kwargs.get(name) is None:
                kwargs[name] = default
        if self.context_param:
            kwargs[self.context_param] = context
        if inspect.iscoroutinefunction(self.func):
            return await self.func(**kwargs)
        # Sync tools run in a thread so a slow one cannot stall every other chat.
        return await asyncio.to_thread(self.func, **kwargs)


class ToolRegistry:
    """The function tools of the assistant, and the runner for a round of calls."""

    def __init__(
        self,
        tools: Sequence[FunctionTool] = (),
        *,
        timeout: float = 30.0,
        output_limit: int = 16_000,
        concurrency: int = 8,
    ) -> None:
        self._tools = {tool.name: tool for tool in tools}
        self.timeout = timeout
        self.output_limit = output_limit
        # Turns are many and mostly wait on the network; what bounds the machine is
        # the functions they run, so those take a slot here.
        self._slots = asyncio.Semaphore(concurrency)

    @classmethod
    def from_functions(cls, functions: Sequence[Callable[..., Any]], **kwargs: Any) -> ToolRegistry:
        return cls([FunctionTool(f) for f in functions], **kwargs)

    @classmethod
    def from_module(cls, module_name: str, **kwargs: Any) -> ToolRegistry:
        """Every public function defined in `module_name` (or listed in its `__all__`)."""
        module = importlib.import_module(module_name)
        names = getattr(module, "__all__", None)
        functions = [
            obj
            for name, obj in vars(module).items()
            if inspect.isfunction(obj)
            and obj.__module__ == module.__name__
            and (name in names if names is not None else not name.startswith("_"))
        ]
        return cls.from_functions(functions, **kwargs)

    def __bool__(self) -> bool:
        return bool(self._tools)

    def requires_approval(self, name: str) -> bool:
        """Whether calls of `name` wait for a person's approval (`@requires_approval`)."""
        tool = self._tools.get(name)
        return tool is not None and tool.requires_approval

    def __iter__(self) -> Iterator[FunctionTool]:
        return iter(self._tools.values())

    def names(self) -> list[str]:
        return list(self._tools)

    def definitions(self) -> list[dict[str, Any]]:
        return [tool.definition() for tool in self._tools.values()]

    async def run(
        self, calls: Sequence[FunctionCall], context: ToolContext
    ) -> list[dict[str, Any]]:
        """Run `calls` concurrently; return one `function_call_output` item per call."""
        outputs = await asyncio.gather(*(self._run_one(call, context) for call in calls))
        return [
            {"type": "function_call_output", "call_id": call.call_id, "output": output}
            for call, output in zip(calls, outputs, strict=True)
        ]

    async def _run_one(self, call: FunctionCall, context: ToolContext) -> str:
        tool = self._tools.get(call.name)
        if tool is None:
            return f"Error: there is no function named {call.name!r}."
        try:
            async with self._slots:
                result = await asyncio.wait_for(tool(call.arguments, context), self.timeout)
        except TimeoutError:
            logger.warning("tool %s timed out after %ss", call.name, self.timeout)
            return f"Error: {call.name} did not finish within {self.timeout:g} seconds."
        except json.JSONDecodeError:
            return "Error: the arguments were not valid JSON."
        except pydantic.ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or 'arguments'}: {err['msg']}"
                for err in exc.errors()
            )
            return f"Error: invalid arguments for {call.name}: {problems}"
        except Exception as exc:
            logger.warning("tool %s raised %s", call.name, exc.__class__.__name__, exc_info=True)
            return f"Error: {call.name} failed: {exc.__class__.__name__}: {exc}"
        return self._serialise(call.name, result)

    def _serialise(self, name: str, result: Any) -> str:
        if isinstance(result, str):
            text = result
        elif isinstance(result, pydantic.BaseModel):
            text = result.model_dump_json()
        else:
            try:
                text = json.dumps(result, ensure_ascii=False)
            except (TypeError, ValueError):
                return (
                    f"Error: {name} returned a {type(result).__name__}, "
                    "which cannot be turned into JSON."
                )
        if len(text) > self.output_limit:
            text = text[: self.output_limit - len(TRUNCATED)] + TRUNCATED
        return text


ToolFunction = Callable[..., Any | Awaitable[Any]]
