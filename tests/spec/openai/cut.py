"""Cut OpenAI's official OpenAPI definition down to the paths threadbridge uses.

    python tests/spec/openai/cut.py /path/to/openapi.yaml            # or openapi.json
    python tests/spec/openai/cut.py SPEC --out tests/spec/openai/openapi.json

Keeps the path items in ``PATHS`` (every method of each) and every component they
reference, transitively. Documentation-only keywords (``description``, ``summary``,
``example(s)``, ``x-oaiMeta`` and the other ``x-`` annotations) are dropped to keep the
file small; nothing that constrains a value is changed. Property *names* that happen to
be ``description`` or ``title`` are kept (only keywords of schema/operation objects go).
The output is deterministic: the same input gives the same bytes.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent

PATHS = (
    "/responses",
    "/responses/{response_id}",
    "/responses/{response_id}/cancel",
    "/responses/{response_id}/input_items",
    "/conversations",
    "/conversations/{conversation_id}",
    "/conversations/{conversation_id}/items",
    "/conversations/{conversation_id}/items/{item_id}",
    "/files",
    "/files/{file_id}",
    "/files/{file_id}/content",
    "/containers",
    "/containers/{container_id}",
    "/containers/{container_id}/files",
    "/containers/{container_id}/files/{file_id}",
    "/containers/{container_id}/files/{file_id}/content",
    "/vector_stores",
    "/vector_stores/{vector_store_id}",
    "/vector_stores/{vector_store_id}/files",
    "/vector_stores/{vector_store_id}/files/{file_id}",
    "/vector_stores/{vector_store_id}/file_batches",
    "/vector_stores/{vector_store_id}/file_batches/{batch_id}",
    "/vector_stores/{vector_store_id}/file_batches/{batch_id}/cancel",
    "/vector_stores/{vector_store_id}/file_batches/{batch_id}/files",
    "/models",
    "/models/{model}",
    "/audio/transcriptions",
    "/audio/speech",
)

# Keywords that only document. Dropped wherever they are keywords (not property names).
DOC_KEYWORDS = frozenset({"description", "summary", "example", "examples", "externalDocs"})
# Maps whose keys are names chosen by the spec's authors (property names, status codes,
# media types...): their keys are never dropped, their values are objects again.
NAME_MAPS = frozenset(
    {
        "properties",
        "patternProperties",
        "$defs",
        "definitions",
        "dependentSchemas",
        "schemas",
        "responses",
        "content",
        "headers",
        "encoding",
        "paths",
        "securitySchemes",
        "scopes",
        "mapping",
    }
)
# Values that are data, not schema: copied as they are.
DATA_KEYWORDS = frozenset({"enum", "const", "default", "required", "mapping"})


def load(path: Path) -> dict[str, Any]:
    text = path.read_text(encoding="utf-8")
    if path.suffix in (".yaml", ".yml"):
        import yaml

        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        data = yaml.load(text, Loader=loader)  # noqa: S506 - a safe loader
    else:
        data = json.loads(text)
    if not isinstance(data, dict):
        raise SystemExit(f"{path}: not an OpenAPI document")
    return data


def strip(node: Any, *, name_map: bool = False) -> Any:
    """A copy of ``node`` without documentation keywords."""
    if isinstance(node, list):
        return [strip(v) for v in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if name_map:
            out[key] = strip(value)
            continue
        if key in DOC_KEYWORDS or key.startswith("x-"):
            continue
        if key in DATA_KEYWORDS:
            out[key] = value
        else:
            out[key] = strip(value, name_map=key in NAME_MAPS)
    return out


def refs_in(node: Any) -> set[str]:
    found: set[str] = set()
    stack = [node]
    while stack:
        cur = stack.pop()
        if isinstance(cur, dict):
            ref = cur.get("$ref")
            if isinstance(ref, str):
                found.add(ref)
            stack.extend(cur.values())
        elif isinstance(cur, list):
            stack.extend(cur)
    return found


def cut(spec: dict[str, Any]) -> dict[str, Any]:
    missing = [p for p in PATHS if p not in spec["paths"]]
    if missing:
        raise SystemExit(f"paths not in the spec: {missing}")
    paths = {p: strip(spec["paths"][p]) for p in PATHS}
    components = spec.get("components", {})
    kept: dict[str, dict[str, Any]] = {}
    todo = sorted(refs_in(paths))
    seen: set[str] = set()
    while todo:
        ref = todo.pop()
        if ref in seen:
            continue
        seen.add(ref)
        if not ref.startswith("#/components/"):
            if ref.startswith("#"):
                raise SystemExit(f"unsupported local $ref {ref}")
            continue
        kind, name = ref[len("#/components/") :].split("/", 1)
        target = strip(components[kind][name])
        kept.setdefault(kind, {})[name] = target
        todo.extend(sorted(refs_in(target) - seen))
    out_components: dict[str, Any] = {
        # In the source's order, so the output is stable.
        kind: {n: kept[kind][n] for n in components[kind] if n in kept[kind]}
        for kind in components
        if kind in kept
    }
    if "securitySchemes" in components:
        out_components["securitySchemes"] = strip(components["securitySchemes"], name_map=True)
    info = {k: v for k, v in spec["info"].items() if k in ("title", "version", "license")}
    result: dict[str, Any] = {"openapi": spec["openapi"], "info": info}
    for key in ("jsonSchemaDialect", "servers", "security"):
        if key in spec:
            result[key] = spec[key]
    result["paths"] = paths
    result["components"] = out_components
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("spec", type=Path, help="the full openapi.yaml (or .json)")
    parser.add_argument("--out", type=Path, default=HERE / "openapi.json")
    args = parser.parse_args(argv)
    full = load(args.spec)
    result = cut(full)
    text = json.dumps(result, indent=1, ensure_ascii=False) + "\n"
    args.out.write_text(text, encoding="utf-8")
    schemas = result["components"].get("schemas", {})
    operations = sum(
        1 for item in result["paths"].values() for m in item if m not in ("parameters",)
    )
    print(
        f"{args.out}: {len(result['paths'])} paths, {operations} operations, "
        f"{len(schemas)} of {len(full['components']['schemas'])} schemas, "
        f"{len(text.encode()) // 1024} KiB",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
