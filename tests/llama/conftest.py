"""Fixtures: a real llama.cpp `llama-server` serving the tiny model of tiny_model.py.

The binary comes from build.sh (built once from the llama.cpp sources inside the
llama-cpp-python sdist, then cached under ~/.cache/threadbridge). Without a compiler
the tests are skipped, except on CI (`CI=true`), where a build that fails is an error.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import pytest

from tests.llama.tiny_model import write_model

HERE = Path(__file__).parent
BUILD_TIMEOUT = 45 * 60
START_TIMEOUT = 60.0
MISSING_TOOLS = 3  # build.sh's exit code when cmake, c++ or make is missing


def _on_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("true", "1", "yes")


def _skip_or_fail(reason: str) -> NoReturn:
    if _on_ci():
        pytest.fail(f"llama-server is required on CI: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def llama_server_binary() -> Path:
    """The path of the cached llama-server, built by build.sh on first use (~6-10 min).

    Skipped when build.sh cannot build (no cmake/c++/make: exit 3; or another failure,
    e.g. no network for the sdist), except on CI, where that fails the tests.
    """
    pip = Path(sys.executable).with_name("pip")
    command = ["bash", str(HERE / "build.sh"), str(pip) if pip.exists() else "pip"]
    try:
        proc = subprocess.run(  # noqa: S603 - our own script
            command, capture_output=True, text=True, timeout=BUILD_TIMEOUT, check=False
        )
    except subprocess.TimeoutExpired:
        _skip_or_fail(f"building llama-server took over {BUILD_TIMEOUT} s")
    if proc.returncode == MISSING_TOOLS:  # cmake, c++ or make is not installed
        _skip_or_fail(f"cannot build llama-server: {proc.stderr.strip()}")
    if proc.returncode != 0:
        _skip_or_fail(f"build.sh failed (exit {proc.returncode}): ...{proc.stderr[-2000:]}")
    printed = proc.stdout.strip().splitlines()
    binary = Path(printed[-1] if printed else "")
    if not binary.is_file() or not os.access(binary, os.X_OK):
        _skip_or_fail(f"build.sh printed {binary}, which is not an executable")
    return binary


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny GGUF model, written once per session."""
    return write_model(tmp_path_factory.mktemp("llama-model") / "tiny.gguf")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _get(url: str, timeout: float = 5.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - loopback
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@dataclass
class LlamaServer:
    """A running llama-server; `base_url` ends in /v1 like OpenAI's."""

    process: subprocess.Popen[bytes]
    port: int
    log_path: Path
    model_id: str = ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    def log(self, start: int = 0) -> str:
        return self.log_path.read_bytes()[start:].decode(errors="replace")

    def log_size(self) -> int:
        return self.log_path.stat().st_size


def _start(binary: Path, model: Path, log_path: Path) -> LlamaServer:
    port = _free_port()
    command = [
        str(binary),
        "--model", str(model),
        "--host", "127.0.0.1",
        "--port", str(port),
        "--jinja",
        "--ctx-size", "4096",
        "--parallel", "1",
        "--threads", "1",
        "--threads-http", "2",
        "--no-webui",
        "--no-warmup",
        "--verbose",
    ]  # fmt: skip
    log = log_path.open("wb")
    process = subprocess.Popen(  # noqa: S603 - the binary build.sh made
        command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
    )
    log.close()
    server = LlamaServer(process=process, port=port, log_path=log_path)
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        if process.poll() is not None:
            raise RuntimeError(
                f"llama-server exited with {process.returncode} at start:\n{server.log()[-4000:]}"
            )
        try:
            status, _ = _get(f"{server.url}/health", timeout=2.0)
        except OSError:
            status = 0
        if status == 200:
            break
        if time.monotonic() > deadline:
            _stop(server)
            raise RuntimeError(f"llama-server not healthy in {START_TIMEOUT} s:\n{server.log()}")
        time.sleep(0.1)
    status, body = _get(f"{server.base_url}/models")
    assert status == 200, body
    server.model_id = json.loads(body)["data"][0]["id"]
    return server


def _stop(server: LlamaServer) -> None:
    if server.process.poll() is None:
        server.process.terminate()
        try:
            server.process.wait(10)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait(10)


@pytest.fixture(scope="session")
def _llama_server_session(
    llama_server_binary: Path, tiny_model: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LlamaServer]:
    log_path = tmp_path_factory.mktemp("llama-server") / "server.log"
    server = _start(llama_server_binary, tiny_model, log_path)
    try:
        yield server
    finally:
        _stop(server)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> object:
    report = yield
    if call.when == "call":
        item.stash[_FAILED] = bool(getattr(report, "failed", False))
    return report


_FAILED = pytest.StashKey[bool]()


@pytest.fixture
def llama_server(
    _llama_server_session: LlamaServer, request: pytest.FixtureRequest
) -> Iterator[LlamaServer]:
    """The session's llama-server; a failed test prints what the server logged during it."""
    server = _llama_server_session
    start = server.log_size()
    yield server
    if request.node.stash.get(_FAILED, False):
        print(f"--- llama-server log during this test ({server.log_path}) ---")
        print(server.log(start)[-12000:])
    assert server.process.poll() is None, f"llama-server died:\n{server.log(start)[-4000:]}"
