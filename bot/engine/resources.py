"""The OpenAI objects a thread uses besides its responses, and the client itself.

A thread's Conversation, its code interpreter container (re-created when it expired,
with the thread's data files attached again), its own vector store for files shared
in it, file uploads, the knowledge base's vector store id, and the files the code
interpreter wrote. Their ids are kept on the thread's row in the store.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import openai
from openai import AsyncOpenAI, omit

from bot.assistant import Assistant
from bot.attachments import guess_mime
from bot.config import CoreSettings
from bot.engine.errors import TurnFailed, is_container_gone
from bot.models import CheckResult, InputFile
from bot.store import Store, ThreadRow

logger = logging.getLogger(__name__)

# Containers idle for ~20 minutes expire; re-check an older one before using it.
CONTAINER_FRESH_SECONDS = 15 * 60
KNOWLEDGE_CACHE_SECONDS = 30.0
# What a server answers for an endpoint it does not have.
NO_ENDPOINT_STATUSES = frozenset({404, 405, 501})
MISCONFIGURED_CONVERSATIONS = (
    "The assistant is misconfigured: its server has no Conversations API. "
    "An admin can switch this deployment to stateless mode."
)


def build_client(
    settings: CoreSettings, *, event_hooks: Mapping[str, list[Callable[..., Any]]] | None = None
) -> AsyncOpenAI:
    """The one OpenAI client of the process, with explicit timeouts and retries.

    Its HTTP transport is aiohttp (the SDK's `DefaultAioHttpClient`) instead of
    httpcore: measured in bench/RESULTS.md. Errors keep the SDK's types: the transport
    maps aiohttp's errors to httpx2's, which the SDK turns into `APIConnectionError`
    and `APITimeoutError`.
    """
    timeout = openai.Timeout(settings.openai_timeout, connect=settings.openai_connect_timeout)
    return AsyncOpenAI(
        api_key=settings.openai_api_key.get_secret_value(),
        base_url=settings.openai_base_url,
        timeout=timeout,
        max_retries=settings.openai_max_retries,
        # `event_hooks` (httpx's): for the bench, which times the way to each request.
        http_client=openai.DefaultAioHttpClient(timeout=timeout, event_hooks=event_hooks),
    )


@dataclass(frozen=True, slots=True)
class Placed:
    """Where a file given to the code interpreter is: its container and path."""

    container_id: str | None
    path: str | None


@dataclass(frozen=True, slots=True)
class GeneratedFile:
    """A file the code interpreter wrote in a container."""

    file_id: str
    container_id: str
    name: str
    size: int


class Resources:
    """Creates and finds a thread's OpenAI objects; records their ids in the store."""

    def __init__(
        self, *, client: AsyncOpenAI, assistant: Assistant, store: Store, settings: CoreSettings
    ) -> None:
        self.client = client
        self.assistant = assistant
        self.store = store
        self.settings = settings
        self.stateless = settings.conversation_mode == "stateless"
        self._knowledge: dict[str, tuple[float, str | None]] = {}

    # --- the API as a whole --------------------------------------------------------

    async def check(self) -> list[CheckResult]:
        """Talk to the API the way turns will: the model, and Conversations if used."""
        results: list[CheckResult] = []
        model = self.assistant.model
        try:
            found = await self._model_exists(model)
        except openai.AuthenticationError:
            return [CheckResult("OpenAI key", False, "OPENAI_API_KEY was refused (401)")]
        except openai.APIError as exc:
            results.append(CheckResult("OpenAI", False, f"cannot reach the API: {exc.message}"))
            return results
        if found:
            results.append(CheckResult("OpenAI model", True, f"{model} is available"))
        else:
            results.append(
                CheckResult("OpenAI model", False, f"OPENAI_MODEL {model!r} does not exist here")
            )
        if not self.stateless:
            try:
                conversation = await self.client.conversations.create(
                    metadata={"purpose": "threadbridge check"}
                )
                await self.client.conversations.delete(conversation.id)
                results.append(CheckResult("OpenAI Conversations", True, "available"))
            except openai.APIStatusError as exc:
                results.append(
                    CheckResult(
                        "OpenAI Conversations",
                        False,
                        f"not available ({exc.status_code}); for servers without it set "
                        "THREADBRIDGE_CONVERSATION_MODE=stateless",
                    )
                )
        return results

    async def _model_exists(self, model: str) -> bool:
        """`GET /models/{id}`, or the list where a server has only that (llama.cpp's)."""
        try:
            await self.client.models.retrieve(model)
            return True
        except openai.NotFoundError:
            pass  # a missing model, or no such route: the list tells which
        async for listed in self.client.models.list():
            if listed.id == model:
                return True
        return False

    # --- conversations ---------------------------------------------------------------

    async def new_conversation(self, thread: ThreadRow) -> str:
        """A new Conversation for `thread`, recorded on its row."""
        try:
            conversation = await self.client.conversations.create(
                metadata={"platform": thread.key.platform, "thread": str(thread.id)}
            )
        except openai.APIStatusError as exc:
            if exc.status_code not in NO_ENDPOINT_STATUSES:
                raise
            logger.error(
                "%s has no Conversations API (%s on POST /conversations): set "
                "THREADBRIDGE_CONVERSATION_MODE=stateless for servers without it",
                self.client.base_url,
                exc.status_code,
            )
            raise TurnFailed(MISCONFIGURED_CONVERSATIONS) from exc
        await self.store.update_thread(thread.id, conversation_id=conversation.id)
        logger.info("thread %s -> conversation %s", thread.key, conversation.id)
        return conversation.id

    # --- containers ----------------------------------------------------------------------

    async def ensure_container(self, thread: ThreadRow) -> str:
        """The thread's code interpreter container, re-created if it expired."""
        now = time.time()
        if thread.container_id and thread.container_used_at:
            if now - thread.container_used_at < CONTAINER_FRESH_SECONDS:
                await self.store.update_thread(thread.id, container_used_at=now)
                return thread.container_id
            try:
                container = await self.client.containers.retrieve(thread.container_id)
                if container.status != "expired":
                    await self.store.update_thread(thread.id, container_used_at=now)
                    return thread.container_id
            except openai.NotFoundError:
                pass
        return await self.new_container(thread)

    async def new_container(self, thread: ThreadRow) -> str:
        """A new container with the thread's data files, recorded on its row."""
        file_ids = [fid for fid, _ in await self.store.thread_files(thread.id, "container")]
        container = await self.client.containers.create(
            name=f"threadbridge-{thread.id}", file_ids=file_ids
        )
        await self.store.update_thread(
            thread.id, container_id=container.id, container_used_at=time.time()
        )
        logger.info("thread %s -> container %s (%d files)", thread.key, container.id, len(file_ids))
        return container.id

    async def add_container_file(
        self,
        thread: ThreadRow,
        container_id: str | None,
        file: InputFile,
        *,
        file_id: str | None = None,
        keep_seconds: int | None = None,
    ) -> Placed:
        """Give the code interpreter a file (uploaded here unless `file_id` names its
        upload, kept `keep_seconds` if given); a container made later for the thread
        gets it too. A container that expired meanwhile is made anew (with the thread's
        files). Says where the file is: the container and the file's path in it (None
        while the thread has no container)."""
        file_id = file_id or await self.upload(file, keep_seconds=keep_seconds)
        await self.store.add_thread_file(
            thread.id, file_id=file_id, name=file.name, purpose="container"
        )
        if not container_id:
            return Placed(None, None)
        try:
            added = await self.client.containers.files.create(container_id, file_id=file_id)
            return Placed(container_id, added.path)
        except openai.APIStatusError as exc:
            if not is_container_gone(exc):
                raise
        # Expired: the new container has every file of the thread, this one included.
        container_id = await self.new_container(thread)
        async for cfile in self.client.containers.files.list(container_id):
            if cfile.path.endswith(file.name):
                return Placed(container_id, cfile.path)
        return Placed(container_id, None)

    async def generated_files(self, container_id: str, *, since: float) -> list[GeneratedFile]:
        """Files the code interpreter wrote in the container since `since`."""
        found = []
        async for cfile in self.client.containers.files.list(container_id):
            if cfile.source != "assistant" or cfile.created_at < since:
                continue
            name = cfile.path.rsplit("/", 1)[-1]
            found.append(GeneratedFile(cfile.id, container_id, name, cfile.bytes or 0))
        return found

    async def download(self, container_id: str, file_id: str) -> bytes:
        content = await self.client.containers.files.content.retrieve(
            file_id, container_id=container_id
        )
        return content.content

    # --- file search -------------------------------------------------------------------

    async def vector_store_ids(
        self, thread: ThreadRow, assistant: Assistant | None = None
    ) -> tuple[str, ...]:
        """The assistant's knowledge base's vector store and the thread's own, where they
        exist."""
        assistant = assistant or self.assistant
        if not assistant.file_search or self.stateless:
            return ()
        ids = []
        knowledge = await self.knowledge_store_id(assistant)
        if knowledge:
            ids.append(knowledge)
        if thread.vector_store_id:
            ids.append(thread.vector_store_id)
        return tuple(ids)

    async def knowledge_store_id(self, assistant: Assistant | None = None) -> str | None:
        key = (assistant or self.assistant).knowledge_key
        fetched_at, value = self._knowledge.get(key, (0.0, None))
        if time.monotonic() - fetched_at > KNOWLEDGE_CACHE_SECONDS:
            value = await self.store.get_value(key)
            self._knowledge[key] = (time.monotonic(), value)
        return value

    async def add_to_thread_search(self, thread: ThreadRow, file_id: str, name: str) -> ThreadRow:
        """Index an uploaded file in the thread's vector store (made on first use);
        returns the thread's row as it is now."""
        store_id = thread.vector_store_id
        if store_id is None:
            created = await self.client.vector_stores.create(
                name=f"threadbridge-thread-{thread.id}",
                expires_after={"anchor": "last_active_at", "days": 7},
            )
            store_id = created.id
            await self.store.update_thread(thread.id, vector_store_id=store_id)
            thread = await self.store.thread(thread.id)
        await self.client.vector_stores.files.create_and_poll(
            file_id=file_id, vector_store_id=store_id, poll_interval_ms=200
        )
        await self.store.add_thread_file(thread.id, file_id=file_id, name=name, purpose="search")
        return thread

    # --- uploads -----------------------------------------------------------------------

    async def upload(self, file: InputFile, *, keep_seconds: int | None = None) -> str:
        uploaded = await self.client.files.create(
            file=(file.name, file.data, guess_mime(file.name, file.mime_type)),
            purpose="user_data",
            expires_after=(
                {"anchor": "created_at", "seconds": keep_seconds} if keep_seconds else omit
            ),
        )
        return uploaded.id
