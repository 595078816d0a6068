"""The conversation engine: OpenAI Responses + Conversations (and stateless history).

Only these modules (and :mod:`bot.knowledge`) import `openai`:

- :mod:`bot.engine.stream`: the SDK's typed stream events -> the reply events of
  :mod:`bot.models` (pure);
- :mod:`bot.engine.turn`: a turn, with its function-call loop, retries and resume;
- :mod:`bot.engine.resources`: the client, and a thread's Conversation, container,
  vector store and uploads;
- :mod:`bot.engine.pool`: Conversations created ahead of the threads that take them;
- :mod:`bot.engine.errors`: what API errors mean and what the user is told.
"""

from bot.engine.errors import TurnFailed, server_reason, user_message_for
from bot.engine.resources import Resources, build_client
from bot.engine.turn import Engine, new_ref, replay_window

__all__ = [
    "Engine",
    "Resources",
    "TurnFailed",
    "build_client",
    "new_ref",
    "replay_window",
    "server_reason",
    "user_message_for",
]
