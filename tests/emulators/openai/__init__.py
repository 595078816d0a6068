"""Loopback OpenAI API emulator (Responses + Conversations, files, containers, vector stores)."""

from .model import ModelFn, ModelRequest, Reply, default_model
from .server import (
    CONVERSATION_LOCKED_MESSAGE,
    ApiError,
    ContainerFile,
    ContainerState,
    ConvState,
    OpenAIEmulator,
    Recorded,
    StoredFile,
    VectorStoreFileState,
    VectorStoreState,
)

__all__ = [
    "CONVERSATION_LOCKED_MESSAGE",
    "ApiError",
    "ContainerFile",
    "ContainerState",
    "ConvState",
    "ModelFn",
    "ModelRequest",
    "OpenAIEmulator",
    "Recorded",
    "Reply",
    "StoredFile",
    "VectorStoreFileState",
    "VectorStoreState",
    "default_model",
]
