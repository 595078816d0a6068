from tests.emulators.openai.plugin import llama_like_emulator, openai_emulator  # noqa: F401
