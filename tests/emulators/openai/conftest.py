from tests.emulators.openai.plugin import openai_emulator  # noqa: F401
