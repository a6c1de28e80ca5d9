"""The table of named faults: each row is a :class:`~conformance.faults.model.Fault` (name,
description, the requirement IDs that must catch it, neutral or not, routes, hooks). Names are
contracts (CI, reports and users refer to them); the hooks live in ``conformance.faults.hooks``.
"""

from __future__ import annotations

from collections.abc import Iterable

from conformance.faults.hooks.anthropic import (
    block_before_message_start,
    count_tokens_off,
    double_message_start,
    event_name_mismatch,
    invalid_input_json_body,
    invalid_input_json_stream,
    output_tokens_undercount,
)
from conformance.faults.hooks.common import map_json_body, map_json_events
from conformance.faults.hooks.concurrency import StreamSwap
from conformance.faults.hooks.context import (
    PROPS,
    advertise_double_window,
    overflow_hang,
    overflow_to_500,
    strip_token_limits,
    truncate_long_prompt,
)
from conformance.faults.hooks.evals import corrupt_answers
from conformance.faults.hooks.http import (
    client_error_to_500,
    malformed_envelope,
    rate_limited,
    text_html_json,
    text_plain_stream,
)
from conformance.faults.hooks.media import (
    corrupt_media_500,
    drop_images,
    media_tokens_missing_body,
    media_tokens_missing_stream,
    stream_media_usage_mismatch,
)
from conformance.faults.hooks.neutral import add_extra_field, add_extra_field_body, keepalive, line_endings, split_bytes
from conformance.faults.hooks.neutral import coalesce_chunks
from conformance.faults.hooks.nim import not_serving
from conformance.faults.hooks.openai import (
    bump_total,
    chunk_id_drift,
    completions_text_mismatch,
    data_after_done,
    drop_done,
    finish_calls_body,
    finish_calls_stream,
    finish_stop_body,
    finish_stop_stream,
    force_include_usage,
    index_zero,
    json_invalid_body,
    json_invalid_stream,
    missing_role,
    name_every_fragment,
    stream_completion_tokens_undercount,
    think_leak_body,
    think_leak_stream,
    tool_args_body,
    tool_args_stream,
    two_finish_reasons,
    usage_every_chunk,
    usage_missing,
)
from conformance.faults.hooks.responses import (
    complete_response,
    completed_not_last,
    completed_on_truncation_event,
    delta_text_mismatch,
    no_sequence_number,
    stream_usage_mismatch,
)
from conformance.faults.model import (
    CHAT,
    COMPLETIONS,
    COUNT_TOKENS,
    EXTRA_FIELD,
    MESSAGES,
    MODELS,
    OPENAI_ROUTES,
    READY,
    RESPONSES,
    WIRE_CUTTING,
    WIRE_LINE_ENDINGS,
    Fault,
    Hooks,
)
from conformance.harness.failures import UsageError


_ALL_STATUSES = range(100, 600)
_GENERATION = (CHAT, COMPLETIONS, RESPONSES, MESSAGES)  # the routes that take a prompt and an output limit
_MEDIA = (CHAT, RESPONSES, MESSAGES)  # the routes that take media parts

_FAULT_LIST: tuple[Fault, ...] = (
    # chat completions streams
    Fault("drop-done", "the stream ends without data: [DONE]", ("OAI-STREAM-002",), False,
          (CHAT, COMPLETIONS), Hooks(events=drop_done)),
    Fault("data-after-done", "a copy of the last chunk is sent after data: [DONE]", ("OAI-STREAM-003",), False,
          (CHAT, COMPLETIONS), Hooks(events=data_after_done)),
    Fault("two-finish-reasons", "the finish chunk is followed by a second chunk with the same finish_reason",
          ("OAI-STREAM-009",), False, (CHAT,), Hooks(events=two_finish_reasons)),
    Fault("missing-role", "delta.role is removed from every chunk", ("OAI-STREAM-008",), False, (CHAT,),
          Hooks(events=map_json_events(missing_role))),
    Fault("chunk-id-drift", "every chunk after the first carries another id", ("OAI-STREAM-007", "OAI-CONC-001"),
          False,
          (CHAT, COMPLETIONS), Hooks(events=chunk_id_drift)),
    Fault("usage-every-chunk",
          "include_usage is forced upstream and the final usage is put on every chunk (the stream is held "
          "until [DONE])", ("OAI-USAGE-002", "OAI-USAGE-003"), False, (CHAT,),
          Hooks(request=force_include_usage, events=usage_every_chunk)),
    Fault("usage-missing-with-include-usage", "the usage chunk is dropped (and usage removed from every chunk)",
          ("OAI-USAGE-002", "OAI-LCHAIN-002"), False, (CHAT,), Hooks(events=map_json_events(usage_missing))),
    Fault("usage-wrong-total", "usage.total_tokens is one more than prompt + completion, in bodies and chunks",
          ("OAI-USAGE-001", "OAI-USAGE-002"), False, (CHAT, COMPLETIONS),
          Hooks(response=map_json_body(lambda ctx, body: bump_total(body)),
                events=map_json_events(lambda ctx, obj: bump_total(obj)))),
    # tool calls
    Fault("finish-stop-despite-tool-calls", 'finish_reason "tool_calls" becomes "stop" when tool calls were made',
          ("OAI-TOOLS-004",), False, (CHAT,),
          Hooks(response=map_json_body(finish_stop_body), events=finish_stop_stream)),
    Fault("finish-tool-calls-without-calls", 'finish_reason becomes "tool_calls" on answers without tool calls',
          ("OAI-TOOLS-004",), False, (CHAT,),
          Hooks(response=map_json_body(finish_calls_body), events=finish_calls_stream)),
    Fault("parallel-calls-index-zero", "every streamed tool_calls fragment gets index 0 (parallel calls merge)",
          ("OAI-TOOLS-003", "OAI-TOOLS-002"), False, (CHAT,), Hooks(events=map_json_events(index_zero))),
    Fault("tool-name-repeated-per-chunk", "function.name is repeated in every streamed arguments fragment",
          ("OAI-TOOLS-002",), False, (CHAT,), Hooks(events=name_every_fragment)),
    Fault("tool-args-invalid-json",
          "tool-call arguments lose their final '}' (non-stream, and the last streamed fragment of each call; "
          "the tool-call part of a stream is held until the choice finishes)",
          ("OAI-TOOLS-001", "OAI-TOOLS-002", "OAI-LCHAIN-003"), False, (CHAT,),
          Hooks(response=map_json_body(tool_args_body), events=tool_args_stream)),
    Fault("think-leak-into-content", "content is prefixed with <think>reasoning</think>, streamed and not",
          ("OAI-REASON-006",), False, (CHAT,),
          Hooks(response=map_json_body(think_leak_body), events=think_leak_stream)),
    # Responses
    Fault("responses-no-sequence-number", "sequence_number is removed from every Responses event",
          ("OAI-RESP-005", "OAI-RESP-002"), False, (RESPONSES,),
          Hooks(events=map_json_events(no_sequence_number))),
    Fault("responses-completed-not-last", "a copy of an output_text.delta follows the terminal event",
          ("OAI-RESP-004",), False, (RESPONSES,), Hooks(events=completed_not_last)),
    Fault("responses-delta-text-mismatch", "the first output_text.delta gets an extra character",
          ("OAI-RESP-007",), False, (RESPONSES,), Hooks(events=delta_text_mismatch)),
    Fault("responses-completed-on-truncation",
          "status incomplete becomes completed, response.incomplete becomes response.completed, "
          "incomplete_details is dropped", ("OAI-RESP-008",), False, (RESPONSES,),
          Hooks(response=map_json_body(lambda ctx, body: complete_response(body)),
                events=completed_on_truncation_event)),
    # Anthropic Messages
    Fault("anthropic-double-message-start", "message_start is sent twice", ("ANT-STREAM-004",), False,
          (MESSAGES,), Hooks(events=double_message_start)),
    Fault("anthropic-block-before-message-start", "the first content_block_start comes before message_start",
          ("ANT-STREAM-004",), False, (MESSAGES,), Hooks(events=block_before_message_start)),
    Fault("anthropic-event-name-mismatch", "the event: line of one event differs from its data.type",
          ("ANT-STREAM-003",), False, (MESSAGES,), Hooks(events=event_name_mismatch)),
    Fault("anthropic-invalid-input-json-delta",
          "tool_use input becomes invalid JSON: a stray '{' in the streamed partial_json, a truncated JSON "
          "string as input when not streamed", ("ANT-STREAM-005", "ANT-TOOLS-001"), False, (MESSAGES,),
          Hooks(response=map_json_body(invalid_input_json_body), events=invalid_input_json_stream)),
    Fault("count-tokens-off-by-n", "count_tokens input_tokens is 3 too high", ("ANT-TOKENS-002",), False,
          (COUNT_TOKENS,), Hooks(response=map_json_body(count_tokens_off))),
    # errors, health, transport
    Fault("context-overflow-500", "4xx answers of chat completions become 500 with the same body",
          ("OAI-ERR-001",), False, (CHAT,), Hooks(response=client_error_to_500)),
    Fault("invalid-params-500", "every 4xx answer becomes 500 with the same body",
          ("OAI-ERR-001", "ANT-MSG-002", "OAI-ERR-005", "OAI-ERR-006", "ANT-TOKENS-003", "OAI-FUZZ-003"), False, (),
          Hooks(response=client_error_to_500)),
    Fault("json-mode-invalid-json",
          "with response_format json_schema/json_object the content loses its last character, streamed or not",
          ("OAI-JSON-002",), False, (CHAT,),
          Hooks(response=map_json_body(json_invalid_body), events=json_invalid_stream)),
    Fault("ready-while-not-serving",
          "GET /v1/health/ready answers 200 ready while chat completions answer 503 (answered by the proxy)",
          ("NIM-HEALTH-002",), False, (READY, CHAT), Hooks(request=not_serving)),
    Fault("error-envelope-malformed", 'JSON bodies of 4xx answers become {"detail": "bad request"}',
          ("OAI-ERR-002", "OAI-ERR-005", "OAI-ERR-006", "ANT-TOKENS-003", "OAI-FUZZ-003"), False,
          (*OPENAI_ROUTES, COUNT_TOKENS), Hooks(response=malformed_envelope)),
    Fault("wrong-content-type", "event streams are served as text/plain, JSON as text/html",
          ("OAI-STREAM-001", "HTTP-CTYPE-001"), False, (),
          Hooks(head=text_plain_stream, response=text_html_json)),
    # context window and token limits (issue 9)
    Fault("silent-truncation",
          "request bodies over 4 KB go upstream with the middle half of every prompt string over 1024 characters "
          "dropped (a \"middle-out\" cut): fewer prompt tokens are billed than were sent, and a prompt over the "
          "window fits and is answered 200", ("OAI-CTX-003", "OAI-CTX-004", "ANT-CTX-001", "ANT-CTX-002"), False,
          _GENERATION, Hooks(request=truncate_long_prompt)),
    Fault("overflow-500", "a 4xx whose body says the context window is exceeded becomes 500 with the same body",
          ("OAI-CTX-004", "ANT-CTX-002"), False, _GENERATION, Hooks(response=overflow_to_500)),
    Fault("overflow-hang",
          "a 4xx whose body says the context window is exceeded is never answered: the connection is held "
          "without a status line until the client gives up", ("OAI-CTX-004", "ANT-CTX-002"), False, _GENERATION,
          Hooks(response=overflow_hang)),
    Fault("models-window-mismatch",
          "the window stated by /v1/models (max_model_len, added if absent; llama.cpp meta.n_ctx) and llama.cpp "
          "/props (n_ctx) is doubled; the server still enforces its real window", ("OAI-CTX-001", "OAI-CTX-005"), False,
          (MODELS, PROPS), Hooks(response=map_json_body(advertise_double_window))),
    Fault("max-tokens-ignored",
          "max_tokens, max_completion_tokens and max_output_tokens are removed from requests: the server "
          "generates to its end of sequence or to the window", ("OAI-CTX-009", "ANT-CTX-004"), False, _GENERATION,
          Hooks(request=strip_token_limits)),
    # multimodal inputs (issue 10): only requests carrying media parts are touched
    Fault("media-tokens-missing",
          "a 200 answer to a request with media bills only the text: prompt_tokens (input_tokens; on Messages "
          "with the cache counters 0) becomes the request's text word count, in bodies and stream usage",
          ("OAI-MM-002", "ANT-MM-001"), False, _MEDIA, Hooks(response=media_tokens_missing_body,
                                                             events=media_tokens_missing_stream)),
    Fault("corrupt-media-500",
          "a 4xx answer to a request with media (undecodable media rejected) becomes 500 with a server-error "
          "envelope", ("OAI-MM-006",), False, _MEDIA, Hooks(response=corrupt_media_500)),
    Fault("drop-image", "image parts (image_url, input_image, Messages image blocks) are removed from requests "
          "before they go upstream: the text alone is answered", ("OAI-MM-002", "OAI-MM-003", "OAI-MM-012",
                                                                 "ANT-MM-001"), False,
          (*_MEDIA, COUNT_TOKENS), Hooks(request=drop_images)),
    Fault("stream-media-usage-mismatch",
          "a streamed request with media reports a quarter more prompt tokens (at least 8) than the upstream "
          "billed; blocking answers are left alone", ("OAI-MM-004",), False, _MEDIA,
          Hooks(events=stream_media_usage_mismatch)),
    # accuracy evals (issue 11): a planted regression only the paired accuracy gate can see
    Fault("eval-answers-corrupted",
          "a fifth of the non-streamed chat / completions answers (chosen by a hash of the prompt) get their text "
          "corrupted (digits +1, letter case swapped); status, schema and usage stay valid",
          ("OAI-EVAL-003",), False, (CHAT, COMPLETIONS), Hooks(response=corrupt_answers)),
    # rate limits (issue 13 §5): a conformance request answered 429 fails (never retried); the eval
    # runner waits Retry-After, retries (at most 3 times) and counts it
    Fault("rate-limit-429",
          "a tenth of the generation requests (drawn per request from the seeded generator) are answered 429 Too "
          "Many Requests with Retry-After: 1 and a rate_limit_error envelope by the proxy (not sent upstream)",
          ("HTTP-STATUS-001",), False, _GENERATION, Hooks(request=rate_limited)),
    # stream / non-stream parity (issue 14 §1): only streams are touched, blocking answers are left alone
    Fault("stream-completion-tokens-undercount",
          "the usage of chat and text completions streams reports completion_tokens 1 (total_tokens follows, so "
          "the counts still add up)", ("OAI-USAGE-005",), False, (CHAT, COMPLETIONS),
          Hooks(events=map_json_events(stream_completion_tokens_undercount))),
    Fault("completions-stream-text-mismatch", "the first /v1/completions stream chunk with a text gets an extra "
          "character", ("OAI-CMPL-006",), False, (COMPLETIONS,), Hooks(events=completions_text_mismatch)),
    Fault("responses-stream-usage-mismatch",
          "the usage of a Responses stream's terminal event bills 4 more input_tokens (total_tokens follows)",
          ("OAI-RESP-013",), False, (RESPONSES,), Hooks(events=map_json_events(stream_usage_mismatch))),
    Fault("anthropic-stream-output-tokens-undercount",
          "every message_delta reports a cumulative usage.output_tokens of 1 (never below message_start's, so "
          "it never decreases)", ("ANT-STREAM-008",), False, (MESSAGES,),
          Hooks(events=map_json_events(output_tokens_undercount))),
    # cross-talk between concurrent streams (issue 14 §3): state shared across the proxy's exchanges; a
    # stream that ends while another chat stream is in flight is paired with it (serial traffic is untouched)
    Fault("concurrent-stream-swap",
          "two chat streams in flight at the same time exchange their whole streams (ids, content, finish and "
          "usage): each client gets the other's response", ("OAI-CONC-002", "OAI-CONC-001"), False, (CHAT,),
          Hooks(events=StreamSwap(whole=True))),
    Fault("concurrent-content-swap",
          "two chat streams in flight at the same time exchange their content deltas; each keeps its own ids, "
          "finish_reason and usage (one sequence's tokens handed to another in the batch)", ("OAI-CONC-002",),
          False, (CHAT,), Hooks(events=StreamSwap(whole=False))),
    # neutral: a correct suite flags none of these (INFO at most)
    Fault("keepalive-comments", "a ': keep-alive' comment block between events", (), True, (),
          Hooks(events=keepalive)),
    Fault("crlf", "CRLF line endings", (), True, (),
          Hooks(wire=line_endings(b"\r\n"), wire_stage=WIRE_LINE_ENDINGS)),
    Fault("cr-only", "CR-only line endings", (), True, (),
          Hooks(wire=line_endings(b"\r"), wire_stage=WIRE_LINE_ENDINGS)),
    Fault("split-bytes",
          "every event is written in several small writes, cut at random offsets, inside CRLF pairs and "
          "inside multi-byte UTF-8 sequences", (), True, (), Hooks(wire=split_bytes, wire_stage=WIRE_CUTTING)),
    Fault("unknown-fields", f'"{EXTRA_FIELD}": 1 is added to every JSON object body and stream event',
          (), True, (),
          Hooks(response=map_json_body(add_extra_field_body, statuses=_ALL_STATUSES),
                events=map_json_events(add_extra_field))),
    Fault("mtp-coalesce-chunks",
          "multi-token prediction: up to 3 consecutive chat / completions chunks carrying only text (content, "
          "reasoning or completions text) of the same choice are merged into one chunk", (), True,
          (CHAT, COMPLETIONS), Hooks(events=coalesce_chunks)),
)

FAULTS: dict[str, Fault] = {}
for _fault in _FAULT_LIST:
    if _fault.name in FAULTS:
        raise UsageError(f"duplicate fault name {_fault.name}")
    FAULTS[_fault.name] = _fault


class UnknownFault(UsageError):
    """A fault name that is not in :data:`FAULTS`."""


def resolve(names: Iterable[str | Fault]) -> tuple[Fault, ...]:
    """The faults named (each item may hold several comma-separated names), in order, without
    duplicates. Unknown names raise :class:`UnknownFault`. :class:`Fault` objects (e.g. the
    mutation runner's adapters) pass through, ahead of the named ones."""
    items = list(names)
    given = tuple(item for item in items if isinstance(item, Fault))
    names = [item for item in items if not isinstance(item, Fault)]
    wanted: list[str] = []
    for item in names:
        for name in str(item).split(","):
            name = name.strip()
            if name and name not in wanted:
                wanted.append(name)
    unknown = [n for n in wanted if n not in FAULTS]
    if unknown:
        raise UnknownFault(
            f"unknown fault(s): {', '.join(unknown)}. Known faults: {', '.join(FAULTS)} "
            "(see `python -m conformance.faults --list`)")
    return given + tuple(FAULTS[n] for n in wanted)
