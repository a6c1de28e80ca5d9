"""context · token limits: invalid output-token limits → 4xx, never read as "no limit" (issue 9 §3).

Per API and parameter (chat ``max_tokens`` and ``max_completion_tokens``, completions
``max_tokens``, Responses ``max_output_tokens``, Messages ``max_tokens``), the values

* ``zero`` (0), ``minus-one`` (-1), ``minus-two`` (-2), ``fractional`` (1.5),
* ``above-window`` (the window + 1: no prompt leaves room for it) and ``int-max`` (2**31 - 1)

are rejected with 4xx and the API's error envelope (OAI-CTX-009, ANT-CTX-004), unless the profile
declares a clamp for the case (``settings.token_limit_clamps``): then a 200 must end by itself
within the clamp. Why these values are invalid: Anthropic requires ``max_tokens`` ≥ 1; the pinned
OpenAPI gives Responses ``max_output_tokens`` ``minimum: 16`` and completions ``max_tokens``
``minimum: 0``, every limit is an ``integer``, and OpenAI answers chat ``max_tokens`` 0 with 400
``integer_below_min_value`` ("Expected a value >= 1"; the pinned spec states no minimum for the two
chat parameters). Completions ``max_tokens`` 0 is *valid* by that spec (``minimum: 0``, prompt
scoring with ``echo``), so it is not a case here.

**Cost.** Every request is streamed (``stream: true``) and the client stops reading after
``BUDGET`` generated tokens (``ContextWindow.stop_after_tokens``; ``Exchange.stopped`` records it),
so a value read as unbounded costs ~``BUDGET`` tokens instead of a whole window, and every invalid
case is replayed (none is left out for cost). A 200 the client had to stop is "read as unbounded";
a 200 that ended by itself (e.g. the model's EOS) is "accepted instead of rejected"; a 5xx is a
violation, never a skip.

**Tiers.** Only ``above-window`` needs the window: those cases carry
``long_context("boundary")`` and take the ``context_window`` fixture. The others need no window
and run in every tier (``--long-context off`` too). A case whose declared clamp is ``"window"`` is
judged with a prompt that leaves ``ROOM`` tokens of the window (so a clamp is proven by a stream
that ends by itself, not by generating a whole window); it needs the window too and, when the
window exceeds ``--max-prompt-tokens``, is skipped saying so.

The cases live here rather than in a dataset: ``above-window`` is a function of the discovered
window, and the matrix (API × parameter × value) is the whole of the data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from conformance.harness.checks import token_limits as checks
from conformance.harness.context import ContextWindow, prompt_body
from conformance.harness.failures import HarnessError
from conformance.harness.requirements import requirement

#: Generated tokens the client reads before it stops a stream (plus the budget's event margin).
BUDGET = 32
#: With a declared "window" clamp: the room the prompt leaves in the window (the clamp judged).
ROOM = 24
PATHS = {"chat": "/v1/chat/completions", "completions": "/v1/completions", "responses": "/v1/responses",
         "messages": "/v1/messages"}
#: A prompt that invites a long answer, so an unbounded limit shows as a stream the client stops.
COUNT = "Count from 1 to 500, separated by commas: 1, 2, 3,"
CONTINUE = "1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,"
#: value id → value (None: the window + 1, known only at run time).
VALUES: dict[str, int | float | None] = {
    "zero": 0, "minus-one": -1, "minus-two": -2, "fractional": 1.5, "above-window": None, "int-max": 2**31 - 1,
}
_NEEDS = {"chat": ("streaming",), "completions": ("completions", "streaming"),
          "responses": ("responses", "streaming"), "messages": ("streaming",)}


@dataclass(frozen=True, slots=True)
class Limit:
    api: str
    param: str
    value_id: str

    @property
    def id(self) -> str:
        return f"{self.api}-{self.param.replace('_', '-')}-{self.value_id}"


def _param(limit: Limit) -> Any:
    marks = [pytest.mark.requires(*_NEEDS[limit.api])]
    if VALUES[limit.value_id] is None:
        marks.append(pytest.mark.long_context("boundary"))
    return pytest.param(limit, id=limit.id, marks=marks)


OAI_LIMITS = [_param(Limit(api, param, value_id))
              for api, param in (("chat", "max_tokens"), ("chat", "max_completion_tokens"),
                                 ("completions", "max_tokens"), ("responses", "max_output_tokens"))
              for value_id in VALUES
              if not (api == "completions" and value_id == "zero")]  # minimum: 0 in the spec: valid
ANT_LIMITS = [_param(Limit("messages", "max_tokens", value_id)) for value_id in VALUES]


def _window(cw: ContextWindow | None) -> int:
    if cw is None or cw.tokens is None:  # the fixture skips when no source states the window
        raise HarnessError("context window unknown after the context_window fixture")
    return cw.tokens


def _send_limit(request: pytest.FixtureRequest, oai: Any, ant: Any, limit: Limit) -> tuple[Any, int | None]:
    """Send the case streamed under the client budget; (exchange, clamp in tokens or None)."""
    profile = oai.passive.profile
    declared = checks.resolve_clamp(profile.setting("token_limit_clamps"), limit.id, limit.value_id)
    needs_window = VALUES[limit.value_id] is None or declared == checks.WINDOW
    cw: ContextWindow | None = request.getfixturevalue("context_window") if needs_window else None
    value = VALUES[limit.value_id]
    if value is None:
        value = _window(cw) + 1
    text = CONTINUE if limit.api == "completions" else COUNT
    timeouts = None
    clamp: int | None = None
    budget = BUDGET
    if declared == checks.WINDOW and cw is not None:
        window = _window(cw)
        if window - ROOM > cw.cap:
            pytest.skip(f"declared clamp 'window' is judged with a prompt of {window - ROOM} tokens, above "
                        f"--max-prompt-tokens {cw.cap}")
        prompt = cw.prompt(limit.api, window - ROOM)
        text = prompt.text
        # the room the prompt leaves, generously (the sized prompt may bill up to `tolerance` fewer)
        clamp = window - (prompt.tokens - prompt.tolerance)
        budget = clamp + 8
        timeouts = cw.timeouts(prompt.tokens)
        cw.progress(f"{limit.id}: clamp 'window' judged with a prompt of {prompt.tokens} tokens "
                    f"({prompt.method}), window {window}")
    elif isinstance(declared, int):
        clamp = declared
        budget = declared + 8
    body = {**prompt_body(limit.api, text), "stream": True, limit.param: value}
    stop = ContextWindow.stop_after_tokens(budget)
    if limit.api == "messages":
        return ant.raw("POST", PATHS["messages"], json_body=ant.with_model(body), stream=True, stop=stop,
                       timeouts=timeouts), clamp
    return oai.raw("POST", PATHS[limit.api], json_body=oai.with_defaults(limit.api, body), stream=True, stop=stop,
                   timeouts=timeouts), clamp


@requirement("OAI-CTX-009")
@pytest.mark.parametrize("limit", OAI_LIMITS)
def test_invalid_output_token_limits_are_rejected_never_read_as_unbounded(request, oai, ant, schemas, limit):
    ex, clamp = _send_limit(request, oai, ant, limit)
    checks.invalid_token_limit_rejected(ex, schemas=schemas, clamp=clamp)


@requirement("ANT-CTX-004")
@pytest.mark.parametrize("limit", ANT_LIMITS)
def test_invalid_messages_max_tokens_values_are_rejected_never_read_as_unbounded(request, oai, ant, schemas, limit):
    ex, clamp = _send_limit(request, oai, ant, limit)
    checks.invalid_max_tokens_rejected(ex, schemas=schemas, clamp=clamp)
