"""Named llama-server configurations of the reference endpoint.

Gemma 3 270M is served under a *borrowed* chat template: the template decides the prompt format
and which output parser llama.cpp applies (reasoning extraction, tool-call syntax). The choice and
the default are justified by measurement in ``docs/reference-measurements.md``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from conformance.reference._common import MODEL_ID


@dataclass(frozen=True)
class ReferenceConfig:
    name: str
    description: str
    #: File name in llama.cpp's ``models/templates`` (copied into the cache next to the binary).
    template: str
    #: ``--reasoning-format``: ``deepseek`` puts thoughts in ``message.reasoning_content``.
    reasoning_format: str = "deepseek"
    #: Total context (``-c``); llama-server splits it between the ``parallel`` slots.
    ctx_size: int = 8192
    parallel: int = 2
    threads: int = 2
    model_id: str = MODEL_ID
    extra_args: tuple[str, ...] = field(default_factory=tuple)

    def server_args(self) -> list[str]:
        """The configuration-specific flags (the server adds model, template path, host/port)."""
        return [
            "--jinja",
            "--reasoning-format", self.reasoning_format,
            "-c", str(self.ctx_size),
            "--parallel", str(self.parallel),
            "--threads", str(self.threads),
            "--alias", self.model_id,
            *self.extra_args,
        ]


REFERENCE_CONFIGS: dict[str, ReferenceConfig] = {
    cfg.name: cfg
    for cfg in (
        ReferenceConfig(
            name="qwen3",
            description=(
                "Qwen3 chat template (ChatML, <think> reasoning, Hermes-style <tool_call> JSON). "
                "Thinking is opt-in per request via chat_template_kwargs.enable_thinking."
            ),
            template="Qwen-Qwen3-0.6B.jinja",
        ),
        ReferenceConfig(
            name="nemotron",
            description=(
                "NVIDIA Nemotron 3 Nano chat template (<think> reasoning, XML-style "
                "<tool_call><function=...> tool calls), as NIM serves Nemotron models."
            ),
            template="NVIDIA-Nemotron-3-Nano-30B-A3B-BF16.jinja",
        ),
    )
}

#: The configuration used when none is named (see docs/reference-measurements.md for why).
DEFAULT_CONFIG = "qwen3"


def get_config(name: str | None) -> ReferenceConfig:
    key = name or DEFAULT_CONFIG
    try:
        return REFERENCE_CONFIGS[key]
    except KeyError:
        from conformance.reference._common import ReferenceSetupError

        raise ReferenceSetupError(
            f"unknown reference config {key!r}; known: {', '.join(sorted(REFERENCE_CONFIGS))}"
        ) from None
