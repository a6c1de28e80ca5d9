"""The closed capability vocabulary (like test262's features.txt).

A profile declares which capabilities an endpoint has. A test marked
``@pytest.mark.requires("logprobs")`` is skipped with a fixed reason when the capability is not
declared, and runs (and may fail) when it is: a declared capability never skips.
"""

from __future__ import annotations

from conformance.harness.failures import UsageError

CAPABILITIES: dict[str, str] = {
    # transport / routes
    "models": "GET /v1/models lists the served models",
    "chat": "POST /v1/chat/completions",
    "completions": "POST /v1/completions (legacy text completions)",
    "responses": "POST /v1/responses (OpenAI Responses)",
    "responses_store": "GET /v1/responses/{id} and previous_response_id (server-side storage)",
    "open_responses": "the endpoint claims Open Responses conformance (stricter stream rules)",
    "messages": "POST /v1/messages (Anthropic Messages)",
    "count_tokens": "POST /v1/messages/count_tokens",
    "nim_health": "NIM management: GET /v1/health/live and /v1/health/ready",
    "nim_metadata": "NIM management: GET /v1/metadata and /v1/version",
    "auth": "the endpoint enforces an API key (401 without one)",
    # sampling and request parameters
    "streaming": "stream=true (server-sent events)",
    "stream_usage": "stream_options.include_usage",
    "n_gt_1": "n > 1 (several choices per request)",
    "logprobs": "logprobs / top_logprobs on chat completions",
    "seed": "seed makes sampling reproducible",
    "stop_sequences": "stop sequences",
    "completions_echo": "echo on /v1/completions",
    "completions_logprobs": "logprobs on /v1/completions",
    # tools and structured output
    "tools": "function tools (tool_choice auto)",
    "tool_choice_required": "tool_choice: required",
    "tool_choice_named": "tool_choice naming one function",
    "parallel_tool_calls": "several tool calls in one turn",
    "json_object": "response_format json_object",
    "json_schema_output": "response_format json_schema (strict) enforced",
    # reasoning
    "reasoning": "parsed reasoning text in a separate field",
    "thinking_toggle": "chat_template_kwargs.enable_thinking switches reasoning on and off",
    "reasoning_budget": "thinking_token_budget bounds reasoning tokens",
    "hosted_reasoning": "hosted reasoning{effort,max_tokens,exclude} request object",
    # context window
    "responses_truncation": "Responses truncation auto drops input to fit the window (disabled rejects)",
    # multimodal
    "vision": "image inputs",
    "audio": "audio inputs",
    "video": "video inputs",
    "media_io_kwargs": "NIM media_io_kwargs.video (fps / num_frames) sets how a video is sampled",
    "audio_in_video": "NIM mm_processor_kwargs.use_audio_in_video feeds a video's audio track to the model",
}


def validate(names: list[str] | tuple[str, ...] | set[str], *, where: str) -> frozenset[str]:
    unknown = sorted(set(names) - CAPABILITIES.keys())
    if unknown:
        raise UsageError(f"{where}: unknown capabilities {unknown}; known: {sorted(CAPABILITIES)}")
    return frozenset(names)


def skip_reason(name: str) -> str:
    return f"capability '{name}' not declared for this endpoint"
