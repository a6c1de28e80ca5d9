"""Named llama-server configurations of the reference endpoint.

Gemma 3 270M is served under a *borrowed* chat template: the template decides the prompt format
and which output parser llama.cpp applies (reasoning extraction, tool-call syntax). The choice and
the default are justified by measurement in ``docs/reference-measurements.md``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

from conformance.reference._common import MODEL_ID


@dataclass(frozen=True)
class ReferenceConfig:
    name: str
    description: str
    #: File name in llama.cpp's ``models/templates`` (copied into the cache next to the binary).
    template: str
    #: ``--reasoning-format``: ``deepseek`` puts thoughts in ``message.reasoning_content``.
    reasoning_format: str = "deepseek"
    #: Total context (``-c``); llama-server splits it between the ``parallel`` slots. 4096 = two
    #: 2048-token windows: the long-context tests fill a whole window, and this CPU prefills only
    #: ~130 tokens/s on one thread, so a 2048 window costs ~16 s per cold prompt (4096 cost ~31 s).
    ctx_size: int = 4096
    parallel: int = 2
    #: ``--threads``. 1, not 2, by measurement: with 2 threads on a 2-core machine, generation
    #: collapses from ~74 to 2-8 tokens/s whenever another process keeps one core busy (ggml's
    #: worker threads spin-wait); with 1 thread it stays at ~40-50 tokens/s. Override with
    #: ``$LLMCONF_REFERENCE_THREADS``.
    threads: int = 1
    model_id: str = MODEL_ID
    #: Server-wide defaults for the template variables (``--chat-template-kwargs``); a request's
    #: ``chat_template_kwargs`` overrides them key by key.
    template_kwargs: dict[str, Any] = field(default_factory=dict)
    extra_args: tuple[str, ...] = field(default_factory=tuple)
    #: Start with ``--mmproj`` and the random-weight projector ``prepare`` writes
    #: (``conformance/reference/projector.py``): images, audio (and video with ffmpeg on PATH).
    multimodal: bool = False

    def server_args(self) -> list[str]:
        """The configuration-specific flags (the server adds model, template path, host/port)."""
        args = [
            "--jinja",
            "--reasoning-format", self.reasoning_format,
            "-c", str(self.ctx_size),
            "--parallel", str(self.parallel),
            "--threads", str(_threads_override() or self.threads),
            "--alias", self.model_id,
        ]
        if self.template_kwargs:
            args += ["--chat-template-kwargs", json.dumps(self.template_kwargs, separators=(",", ":"))]
        return args + list(self.extra_args)


def _threads_override() -> int | None:
    raw = os.environ.get("LLMCONF_REFERENCE_THREADS", "").strip()
    if not raw:
        return None
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        from conformance.reference._common import ReferenceSetupError

        raise ReferenceSetupError(f"LLMCONF_REFERENCE_THREADS must be a positive integer, got {raw!r}")
    return value


_NO_THINKING = {"enable_thinking": False}

REFERENCE_CONFIGS: dict[str, ReferenceConfig] = {
    cfg.name: cfg
    for cfg in (
        ReferenceConfig(
            name="nemotron",
            description=(
                "NVIDIA Nemotron 3 Nano chat template (as NIM serves Nemotron): XML-style "
                "<tool_call><function=...> tool calls (parallel_tool_calls=false honoured, "
                "finish_reason tool_calls reachable); thinking off by default, "
                "chat_template_kwargs.enable_thinking=true opens <think> so reasoning_content is "
                "reliably produced."
            ),
            template="NVIDIA-Nemotron-3-Nano-30B-A3B-BF16.jinja",
            template_kwargs=_NO_THINKING,
        ),
        ReferenceConfig(
            name="nemotron-thinking",
            description=(
                "Same template with its own default (thinking ON, like the real model and like "
                "Nemotron 3 on NIM): every answer starts inside <think>, so output lands in "
                "reasoning_content and content is usually empty unless the request switches thinking "
                "off (chat_template_kwargs.enable_thinking=false, on chat, Responses and Messages); "
                "run it with --profile reference-thinking, which does that for every request that "
                "does not ask for reasoning itself."
            ),
            template="NVIDIA-Nemotron-3-Nano-30B-A3B-BF16.jinja",
        ),
        ReferenceConfig(
            name="multimodal",
            description=(
                "The nemotron configuration plus a random-weight vision + audio projector (--mmproj, "
                "written by prepare with the gguf package; no download): images, audio, and video "
                "when ffmpeg is on PATH go through llama-server's real media pipeline (decoding, "
                "token accounting, errors); answers about the media are meaningless by design "
                "(issue 10; measurements in docs/multimodal-reference.md)."
            ),
            template="NVIDIA-Nemotron-3-Nano-30B-A3B-BF16.jinja",
            template_kwargs=_NO_THINKING,
            multimodal=True,
        ),
        ReferenceConfig(
            name="qwen3",
            description=(
                "Qwen3 chat template: Hermes-style <tool_call>{json}</tool_call> (the generic "
                "autoparser: parallel_tool_calls=false not honoured, calls repeat until max_tokens); "
                "thinking off by default; enable_thinking=true does not make this model emit <think>."
            ),
            template="Qwen-Qwen3-0.6B.jinja",
            template_kwargs=_NO_THINKING,
        ),
    )
}

#: The configuration used when none is named (see docs/reference-measurements.md for why).
DEFAULT_CONFIG = "nemotron"


def with_slots(config: ReferenceConfig, slots: int | None) -> ReferenceConfig:
    """``config`` serving ``slots`` requests at once (``--parallel``) with the same window per slot:
    llama-server splits ``-c`` between the slots, so the total grows with them (a parallel test run,
    ``pytest -n N``, gets N slots of the window the serial run has). Fewer slots than the
    configuration's own are never used."""
    if slots is None or slots <= config.parallel:
        return config
    from dataclasses import replace  # noqa: PLC0415

    per_slot = config.ctx_size // config.parallel
    return replace(config, parallel=slots, ctx_size=per_slot * slots)


def get_config(name: str | None) -> ReferenceConfig:
    key = name or DEFAULT_CONFIG
    try:
        return REFERENCE_CONFIGS[key]
    except KeyError:
        from conformance.reference._common import ReferenceSetupError

        raise ReferenceSetupError(
            f"unknown reference config {key!r}; known: {', '.join(sorted(REFERENCE_CONFIGS))}"
        ) from None
