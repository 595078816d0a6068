"""A tiny GGUF model that llama.cpp's `llama-server` loads and that answers deterministically.

No weights come from anywhere: :func:`write_model` builds them here with the `gguf`
package. The model is a 1-layer `llama` architecture whose attention output and FFN
down-projection weights are zero, so the layer adds nothing to the residual stream:
the logits at a position depend only on that position's token. It is a bigram model,
next token = ``NEXT[token]``, set by one-hot token embeddings and the output matrix
(logit 100 for the intended token, 0 for every other one, so any sampler picks it).

What the model answers is decided by the chat template in the file
(``tokenizer.chat_template``, served with ``--jinja``): it ends the generation prompt
with a marker token chosen from the messages, and from each marker a fixed chain of
tokens follows, ending in ``<|im_end|>`` (the end-of-generation token):

=================  ==========================================  ===========================
marker             when                                        answer
=================  ==========================================  ===========================
``<|fresh|>``      no earlier answer in the messages            ``Hello from llama.``
``<|again|>``      an earlier assistant message says            ``Hello again, I remember
                   ``Hello from llama.`` (history was sent)     you.``
``<|call|>``       tools offered, no tool result yet            a Hermes-style tool call
                                                                of ``current_time`` with
                                                                ``{}``
``<|after_tool|>`` the last message is a tool result with       ``The time is noon.``
                   ``noon`` in it
``<|tool_failed|>`` the last message is another tool result     ``The tool failed.``
=================  ==========================================  ===========================

The template is Qwen2.5's (tool calls as ``<tool_call>\\n{"name": ..., "arguments":
...}\\n</tool_call>``), which llama.cpp's differential template analysis
(common/chat-diff-analyzer.cpp) turns into a tool-call parser and a lazy grammar
triggered by ``<tool_call>``; only the generation prompt is ours.

The vocabulary is SentencePiece-style (``tokenizer.ggml.model = llama``) with the 256
byte tokens ``<0x00>``..``<0xFF>``, so any prompt tokenizes (byte fallback); the
control tokens of the template; and user-defined "output" tokens, whose text is copied
verbatim when detokenized, so one token can be any multi-character string.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import gguf
import numpy as np

MODEL_NAME = "threadbridge-tiny"
CONTEXT_LENGTH = 4096
N_EMBD = 64
N_HEAD = 4
N_FF = 64
LOGIT = 100.0

FUNCTION_NAME = "current_time"
FUNCTION_RESULT_WORD = "noon"
FRESH_ANSWER = "Hello from llama."
AGAIN_ANSWER = "Hello again, I remember you."
TOOL_ANSWER = "The time is noon."
TOOL_FAILED_ANSWER = "The tool failed."
TOOL_CALL_JSON = '{"name": "' + FUNCTION_NAME + '", "arguments": {}}'

EOS = "<|im_end|>"
CONTROL_TOKENS = [
    "<|im_start|>",
    EOS,
    "<|fresh|>",
    "<|again|>",
    "<|call|>",
    "<|after_tool|>",
    "<|tool_failed|>",
]
# Markup that the template writes and the tool-call parser looks for: single tokens,
# so the grammar trigger `<tool_call>` is one token (llama-server requires that of a
# trigger word that is a single token: it must also be a "preserved" token).
MARKUP_TOKENS = ["<tool_call>", "</tool_call>", "<tool_response>", "</tool_response>"]

# marker -> the tokens generated after it (each text is one token; EOS follows).
CHAINS: dict[str, list[str]] = {
    "<|fresh|>": ["Hello", " from", " llama."],
    "<|again|>": ["Hello again,", " I remember", " you."],
    "<|call|>": ["<tool_call>", "\n" + TOOL_CALL_JSON, "\n</tool_call>"],
    "<|after_tool|>": ["The time", " is noon."],
    "<|tool_failed|>": ["The tool", " failed."],
}

# Qwen2.5-7B-Instruct's template (llama.cpp models/templates/), with our own default
# system prompt and, after the generation prompt, the marker token. A raw string: the
# `\n` escapes are Jinja's.
CHAT_TEMPLATE = r"""{%- if tools %}
    {{- '<|im_start|>system\n' }}
    {%- if messages[0]['role'] == 'system' %}
        {{- messages[0]['content'] }}
    {%- else %}
        {{- 'You are a tiny test model.' }}
    {%- endif %}
    {{- "\n\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\n" }}
    {{- "You are provided with function signatures within <tools></tools> XML tags:\n<tools>" }}
    {%- for tool in tools %}
        {{- "\n" }}
        {{- tool | tojson }}
    {%- endfor %}
    {{- "\n</tools>\n\nFor each function call, return a json object with function name and " }}
    {{- "arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n" }}
    {{- '{"name": <function-name>, "arguments": <args-json-object>}\n</tool_call><|im_end|>\n' }}
{%- else %}
    {%- if messages[0]['role'] == 'system' %}
        {{- '<|im_start|>system\n' + messages[0]['content'] + '<|im_end|>\n' }}
    {%- else %}
        {{- '<|im_start|>system\nYou are a tiny test model.<|im_end|>\n' }}
    {%- endif %}
{%- endif %}
{%- for message in messages %}
    {%- if (message.role == "user") or (message.role == "system" and not loop.first)
        or (message.role == "assistant" and not message.tool_calls) %}
        {{- '<|im_start|>' + message.role + '\n' + message.content + '<|im_end|>' + '\n' }}
    {%- elif message.role == "assistant" %}
        {{- '<|im_start|>' + message.role }}
        {%- if message.content %}
            {{- '\n' + message.content }}
        {%- endif %}
        {%- for tool_call in message.tool_calls %}
            {%- if tool_call.function is defined %}
                {%- set tool_call = tool_call.function %}
            {%- endif %}
            {{- '\n<tool_call>\n{"name": "' }}
            {{- tool_call.name }}
            {{- '", "arguments": ' }}
            {{- tool_call.arguments | tojson }}
            {{- '}\n</tool_call>' }}
        {%- endfor %}
        {{- '<|im_end|>\n' }}
    {%- elif message.role == "tool" %}
        {%- if (loop.index0 == 0) or (messages[loop.index0 - 1].role != "tool") %}
            {{- '<|im_start|>user' }}
        {%- endif %}
        {{- '\n<tool_response>\n' }}
        {{- message.content }}
        {{- '\n</tool_response>' }}
        {%- if loop.last or (messages[loop.index0 + 1].role != "tool") %}
            {{- '<|im_end|>\n' }}
        {%- endif %}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\n' }}
    {%- set last = messages[-1] %}
    {%- set ns = namespace(seen=false) %}
    {%- for message in messages %}
        {%- if message.role == "assistant" and message.content
            and '@FRESH_ANSWER@' in message.content %}
            {%- set ns.seen = true %}
        {%- endif %}
    {%- endfor %}
    {%- if last.role == "tool" and '@FUNCTION_RESULT_WORD@' in last.content %}
        {{- '<|after_tool|>' }}
    {%- elif last.role == "tool" %}
        {{- '<|tool_failed|>' }}
    {%- elif tools %}
        {{- '<|call|>' }}
    {%- elif ns.seen %}
        {{- '<|again|>' }}
    {%- else %}
        {{- '<|fresh|>' }}
    {%- endif %}
{%- endif %}
""".replace("@FRESH_ANSWER@", FRESH_ANSWER).replace("@FUNCTION_RESULT_WORD@", FUNCTION_RESULT_WORD)


def vocabulary() -> tuple[list[str], list[int]]:
    """Token texts and their gguf token types."""
    tokens = ["<unk>", "<s>", "</s>"]
    types = [gguf.TokenType.UNKNOWN, gguf.TokenType.CONTROL, gguf.TokenType.CONTROL]
    tokens += [f"<0x{b:02X}>" for b in range(256)]
    types += [gguf.TokenType.BYTE] * 256
    # SentencePiece writes spaces as U+2581: one token for it keeps prompts shorter.
    tokens.append("\u2581")
    types.append(gguf.TokenType.NORMAL)
    for text in CONTROL_TOKENS:
        tokens.append(text)
        types.append(gguf.TokenType.CONTROL)
    for text in MARKUP_TOKENS:
        tokens.append(text)
        types.append(gguf.TokenType.USER_DEFINED)
    for chain in CHAINS.values():
        for text in chain:
            if text not in tokens:
                tokens.append(text)
                types.append(gguf.TokenType.USER_DEFINED)
    assert len(set(tokens)) == len(tokens)
    return tokens, [int(t) for t in types]


def transitions(tokens: list[str]) -> dict[int, int]:
    """token id -> the id of the token that follows it; every other token is followed by EOS."""
    ids = {text: i for i, text in enumerate(tokens)}
    nxt: dict[int, int] = {}
    for marker, chain in CHAINS.items():
        sequence = [marker, *chain, EOS]
        for here, there in itertools.pairwise(sequence):
            assert ids[here] not in nxt, f"{here!r} would have two successors"
            nxt[ids[here]] = ids[there]
    return nxt


def weights(tokens: list[str]) -> dict[str, np.ndarray]:
    """The tensors, as numpy arrays in gguf's (rows = last ggml dimension) layout."""
    n_vocab = len(tokens)
    nxt = transitions(tokens)
    eos = tokens.index(EOS)
    assert len(nxt) + 1 <= N_EMBD, "each token with a successor needs its own dimension"
    embd = np.zeros((n_vocab, N_EMBD), dtype=np.float32)
    out = np.zeros((n_vocab, N_EMBD), dtype=np.float32)
    # Dimension 0 is shared by every token without a successor of its own: it leads to EOS.
    embd[:, 0] = 1.0
    # RMS norm turns a one-hot row into sqrt(N_EMBD) in that dimension.
    scale = LOGIT / np.sqrt(N_EMBD)
    out[eos, 0] = scale
    for dim, (src, dst) in enumerate(sorted(nxt.items()), start=1):
        embd[src, :] = 0.0
        embd[src, dim] = 1.0
        out[dst, dim] = scale
    rng = np.random.default_rng(0)

    def small(*shape: int) -> np.ndarray:
        # Q, K, V and the FFN's gate/up do not matter (their outputs are multiplied by
        # zero); small random values keep the attention numerically ordinary.
        return (rng.standard_normal(shape) * 0.02).astype(np.float32)

    ones = np.ones(N_EMBD, dtype=np.float32)
    return {
        "token_embd.weight": embd,
        "output_norm.weight": ones,
        "output.weight": out,
        "blk.0.attn_norm.weight": ones.copy(),
        "blk.0.attn_q.weight": small(N_EMBD, N_EMBD),
        "blk.0.attn_k.weight": small(N_EMBD, N_EMBD),
        "blk.0.attn_v.weight": small(N_EMBD, N_EMBD),
        "blk.0.attn_output.weight": np.zeros((N_EMBD, N_EMBD), dtype=np.float32),
        "blk.0.ffn_norm.weight": ones.copy(),
        "blk.0.ffn_gate.weight": small(N_FF, N_EMBD),
        "blk.0.ffn_up.weight": small(N_FF, N_EMBD),
        "blk.0.ffn_down.weight": np.zeros((N_EMBD, N_FF), dtype=np.float32),
    }


def write_model(path: Path) -> Path:
    """Write the model to `path` (a .gguf file of ~200 KB) and return the path."""
    tokens, types = vocabulary()
    writer = gguf.GGUFWriter(str(path), arch="llama")
    writer.add_name(MODEL_NAME)
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    writer.add_context_length(CONTEXT_LENGTH)
    writer.add_embedding_length(N_EMBD)
    writer.add_block_count(1)
    writer.add_feed_forward_length(N_FF)
    writer.add_head_count(N_HEAD)
    writer.add_head_count_kv(N_HEAD)
    writer.add_rope_dimension_count(N_EMBD // N_HEAD)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_vocab_size(len(tokens))

    writer.add_tokenizer_model("llama")
    writer.add_token_list(tokens)
    writer.add_token_scores([0.0] * len(tokens))
    writer.add_token_types(types)
    writer.add_bos_token_id(tokens.index("<s>"))
    writer.add_eos_token_id(tokens.index(EOS))
    writer.add_eot_token_id(tokens.index(EOS))
    writer.add_unk_token_id(tokens.index("<unk>"))
    writer.add_add_bos_token(False)
    writer.add_add_eos_token(False)
    writer.add_add_space_prefix(False)
    writer.add_chat_template(CHAT_TEMPLATE)

    for name, array in weights(tokens).items():
        writer.add_tensor(name, array)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


if __name__ == "__main__":
    import sys

    print(write_model(Path(sys.argv[1] if len(sys.argv) > 1 else f"{MODEL_NAME}.gguf")))
