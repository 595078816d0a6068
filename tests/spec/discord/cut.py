"""Cut Discord's official OpenAPI definition down to what the emulator serves.

Reads ``specs/openapi.json`` of github.com/discord/discord-api-spec at one commit,
keeps the operations listed in ``OPERATIONS`` (the REST routes
``tests/emulators/discord/server.py`` answers) with their path-level parameters,
plus every component they reference, transitively (schemas, responses, headers,
security schemes). Nothing inside a kept object is changed; keys are sorted so
the output is reproducible. Writes ``openapi.json`` and ``SOURCE.md`` beside
this file.

    git clone --bare https://github.com/discord/discord-api-spec /tmp/das.git
    python tests/spec/discord/cut.py --git-dir /tmp/das.git --commit <sha>

or, from a file already on disk (SOURCE.md then names the given commit/date):

    python tests/spec/discord/cut.py --file openapi.json --commit <sha> --date <iso>

A new route in the emulator needs its operation added to ``OPERATIONS`` and a
re-run; the emulator answers requests to operations missing from the cut with
a loud error (see ``DiscordEmulator.spec_violations``).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPOSITORY = "https://github.com/discord/discord-api-spec"
SPEC_FILE = "specs/openapi.json"

# (method, path) exactly as the spec spells them.
OPERATIONS: tuple[tuple[str, str], ...] = (
    ("get", "/gateway"),
    ("get", "/gateway/bot"),
    ("get", "/users/@me"),
    ("post", "/users/@me/channels"),
    ("get", "/users/{user_id}"),
    ("get", "/applications/@me"),
    ("get", "/oauth2/applications/@me"),
    ("get", "/applications/{application_id}/commands"),
    ("put", "/applications/{application_id}/commands"),
    ("get", "/applications/{application_id}/guilds/{guild_id}/commands"),
    ("put", "/applications/{application_id}/guilds/{guild_id}/commands"),
    ("post", "/interactions/{interaction_id}/{interaction_token}/callback"),
    ("post", "/webhooks/{webhook_id}/{webhook_token}"),
    ("get", "/webhooks/{webhook_id}/{webhook_token}/messages/@original"),
    ("patch", "/webhooks/{webhook_id}/{webhook_token}/messages/@original"),
    ("delete", "/webhooks/{webhook_id}/{webhook_token}/messages/@original"),
    ("get", "/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}"),
    ("patch", "/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}"),
    ("delete", "/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}"),
    ("get", "/channels/{channel_id}"),
    ("patch", "/channels/{channel_id}"),
    ("get", "/channels/{channel_id}/messages"),
    ("post", "/channels/{channel_id}/messages"),
    ("get", "/channels/{channel_id}/messages/{message_id}"),
    ("patch", "/channels/{channel_id}/messages/{message_id}"),
    ("delete", "/channels/{channel_id}/messages/{message_id}"),
    ("post", "/channels/{channel_id}/messages/{message_id}/threads"),
    ("put", "/channels/{channel_id}/messages/{message_id}/reactions/{emoji_name}/@me"),
    ("delete", "/channels/{channel_id}/messages/{message_id}/reactions/{emoji_name}/@me"),
    ("post", "/channels/{channel_id}/threads"),
    ("post", "/channels/{channel_id}/typing"),
    ("put", "/channels/{channel_id}/thread-members/@me"),
    ("delete", "/channels/{channel_id}/thread-members/@me"),
    ("get", "/guilds/{guild_id}"),
    ("get", "/guilds/{guild_id}/channels"),
    ("get", "/guilds/{guild_id}/members/{user_id}"),
    ("get", "/guilds/{guild_id}/threads/active"),
)

_COMPONENT_PREFIX = "#/components/"


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            yield ref
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def cut(spec: dict[str, Any]) -> dict[str, Any]:
    """The sub-spec with ``OPERATIONS`` and the components they need."""
    paths: dict[str, Any] = {}
    for method, path in OPERATIONS:
        item = spec["paths"][path]
        kept = paths.setdefault(path, {k: v for k, v in item.items() if k == "parameters"})
        kept[method] = item[method]
    out: dict[str, Any] = {
        key: spec[key] for key in ("openapi", "info", "externalDocs", "servers") if key in spec
    }
    out["paths"] = paths
    # security schemes are named, not $ref'd
    schemes = {
        name
        for item in paths.values()
        for op in item.values()
        if isinstance(op, dict)
        for requirement in op.get("security", [])
        for name in requirement
    }
    components: dict[str, dict[str, Any]] = {}
    if schemes:
        components["securitySchemes"] = {
            name: spec["components"]["securitySchemes"][name] for name in sorted(schemes)
        }
    todo = list(_refs(paths))
    seen: set[str] = set()
    while todo:
        ref = todo.pop()
        if ref in seen:
            continue
        seen.add(ref)
        if not ref.startswith(_COMPONENT_PREFIX):
            raise ValueError(f"unexpected $ref {ref!r}")
        kind, name = ref[len(_COMPONENT_PREFIX) :].split("/", 1)
        target = spec["components"][kind][name]
        components.setdefault(kind, {})[name] = target
        todo.extend(_refs(target))
    out["components"] = {kind: dict(sorted(v.items())) for kind, v in sorted(components.items())}
    return out


def _git(git_dir: str, *args: str) -> str:
    return subprocess.run(  # noqa: S603 (a developer's own clone, run by hand)
        ["git", f"--git-dir={git_dir}", *args],  # noqa: S607
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def _source_md(commit: str, date: str, spec: dict[str, Any], kept: dict[str, Any]) -> str:
    n_ops = sum(1 for item in kept["paths"].values() for k in item if k != "parameters")
    n_schemas = len(kept["components"].get("schemas", {}))
    n_all = sum(1 for item in spec["paths"].values() for k in item if k != "parameters")
    return f"""# Discord OpenAPI definition (cut)

- Repository: {REPOSITORY}
- File: `{SPEC_FILE}` (OpenAPI {spec["openapi"]}, API version {spec["info"]["version"]})
- Commit: `{commit}` ({date})
- License: MIT (Copyright 2023 Discord), see the repository's `LICENSE`; the spec's
  `info.license` says the same.
- Cut: {n_ops} of {n_all} operations, the ones the emulator serves (`OPERATIONS` in
  `cut.py`), with the {n_schemas} of {len(spec["components"]["schemas"])} component
  schemas they reference transitively. Kept objects are unchanged.
- Dialect: no `jsonSchemaDialect`, so OpenAPI 3.1's default
  (`https://spec.openapis.org/oas/3.1/dialect/base`, i.e. JSON Schema 2020-12, where
  `format` is an annotation). The emulator validates with `jsonschema.Draft202012Validator`.

Regenerate:

```
git clone --bare {REPOSITORY} /tmp/discord-api-spec.git
python tests/spec/discord/cut.py --git-dir /tmp/discord-api-spec.git --commit {commit}
```

(`--commit HEAD` takes the newest; the script writes this file with the resolved hash.)
The emulator's deliberate deviations from the spec (what discord.py really sends that
the spec does not allow) are listed in `SPEC_EXCEPTIONS` in
`tests/emulators/discord/spec.py`.
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument("--git-dir", help="a clone (bare is fine) of discord-api-spec")
    src.add_argument("--file", help="an openapi.json already on disk")
    parser.add_argument("--commit", default="HEAD")
    parser.add_argument("--date", help="commit date (with --file)")
    parser.add_argument("--out", default=str(HERE))
    args = parser.parse_args(argv)
    if args.git_dir:
        commit = _git(args.git_dir, "rev-parse", f"{args.commit}^{{commit}}").strip()
        date = _git(args.git_dir, "show", "-s", "--format=%cI", commit).strip()
        spec = json.loads(_git(args.git_dir, "show", f"{commit}:{SPEC_FILE}"))
    else:
        commit, date = args.commit, args.date or "date unknown"
        spec = json.loads(Path(args.file).read_text())
    kept = cut(spec)
    out = Path(args.out)
    (out / "openapi.json").write_text(json.dumps(kept, indent=1, sort_keys=True) + "\n")
    (out / "SOURCE.md").write_text(_source_md(commit, date, spec, kept))
    print(f"wrote {out / 'openapi.json'} ({commit[:12]}, {date})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
