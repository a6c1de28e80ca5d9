"""Checks on what the official SDKs and LangChain's chat models rebuilt from the endpoint's
responses, and the cross-API consistency observation."""

from __future__ import annotations

import json
from typing import Any

from conformance.harness.checks import check, fail


@check("OAI-SDK-002")
def openai_stream_accumulation_matches(final_text: Any, deltas_text: str) -> None:
    """The openai SDK's accumulated completion carries the concatenated streamed deltas."""
    if final_text != deltas_text:
        raise fail("SDK-accumulated content differs from the streamed deltas", expected=deltas_text[:200],
                   actual=final_text if not isinstance(final_text, str) else final_text[:200])


@check("ANT-SDK-002")
def anthropic_stream_accumulation_matches(final_text: Any, deltas_text: str) -> None:
    """The anthropic SDK's final message carries the concatenated streamed text deltas."""
    if final_text != deltas_text:
        raise fail("SDK final message text differs from the streamed deltas", expected=deltas_text[:200],
                   actual=final_text if not isinstance(final_text, str) else final_text[:200])


@check("OAI-XAPI-001")
def apis_agree(input_tokens: dict[str, Any], texts: dict[str, str]) -> None:
    """The same greedy prompt through several APIs reports the same input tokens and text."""
    counts = {api: n for api, n in input_tokens.items()}
    if len(set(counts.values())) > 1:
        raise fail("input token accounting differs between APIs", expected="one value", actual=counts)
    if len(set(texts.values())) > 1:
        raise fail("greedy output differs between APIs", expected="one text",
                   actual={api: t[:80] for api, t in texts.items()})


# --- LangChain chat models (issue 14 §6) -------------------------------------------------------------
# Each check takes plain data: ``message`` is :func:`conformance.harness.lchain.message_view` of what
# LangChain returned (an AIMessage, or the sum of the AIMessageChunks of a stream), ``wire`` is
# :func:`conformance.harness.lchain.wire_view` of the exchange it made (the endpoint's answer, folded).

_USAGE = (("input_tokens", "prompt_tokens"), ("output_tokens", "completion_tokens"), ("total_tokens", "total_tokens"))


def _lc_problems(message: Any, wire: Any, *, kind: str) -> list[str]:
    """What LangChain's parsed message gets wrong against the wire: its type, content (a str equal to
    the wire's content), usage_metadata (equal to the wire's usage where the wire reports one), and
    no call dropped or invented."""
    if not isinstance(message, dict) or not isinstance(wire, dict):
        return [f"no LangChain message / wire answer to compare: {message!r:.120} / {wire!r:.120}"]
    out = []
    status = wire.get("status")
    if not isinstance(status, int) or not 200 <= status < 300:
        out.append(f"the endpoint answered {status}, yet LangChain returned a message")
    if message.get("type") != kind:
        out.append(f"LangChain returned {message.get('type')}, not {kind}")
    content = message.get("content")
    if not isinstance(content, str):
        out.append(f"AIMessage.content is {type(content).__name__} ({content!r:.80}), not a str")
    elif content != (wire.get("content") or ""):
        out.append(f"AIMessage.content {content[:80]!r} differs from the wire content "
                   f"{(wire.get('content') or '')[:80]!r}")
    usage, metadata = wire.get("usage"), message.get("usage_metadata")
    if isinstance(usage, dict) and usage:
        if not isinstance(metadata, dict):
            out.append(f"the wire reports usage {usage} but AIMessage.usage_metadata is {metadata!r}")
        else:
            for mine, theirs in _USAGE:
                if theirs in usage and metadata.get(mine) != usage[theirs]:
                    out.append(f"usage_metadata.{mine} = {metadata.get(mine)!r}, the wire's usage.{theirs} = "
                               f"{usage[theirs]!r}")
    if message.get("invalid_tool_calls"):
        out.append(f"LangChain could not parse tool call(s): {message['invalid_tool_calls']!r:.200}")
    if len(message.get("tool_calls") or []) != len(wire.get("tool_calls") or []):
        out.append(f"LangChain has {len(message.get('tool_calls') or [])} tool call(s), the wire "
                   f"{len(wire.get('tool_calls') or [])}")
    return out


@check("OAI-LCHAIN-001")
def langchain_message_matches_wire(message: Any, wire: Any) -> None:
    """``chat_model.invoke`` returned an AIMessage whose content is a str equal to the wire's
    content, with usage_metadata equal to the wire's usage and the same number of tool calls."""
    if problems := _lc_problems(message, wire, kind="AIMessage"):
        raise fail("LangChain's AIMessage does not match the endpoint's answer: " + "; ".join(problems),
                   expected="the wire's content and usage", actual=message)


@check("OAI-LCHAIN-002")
def langchain_stream_aggregates(message: Any, wire: Any, chunk_texts: Any, *, usage_requested: bool = True) -> None:
    """``chat_model.stream`` yielded AIMessageChunks that sum to one chunk: its content is the
    concatenation of the chunks' texts and of the wire's deltas, its usage_metadata the wire's final
    usage (where usage was asked for, the wire must carry it)."""
    problems = _lc_problems(message, wire, kind="AIMessageChunk")
    if isinstance(wire, dict):
        if not wire.get("stream"):
            problems.append("the request LangChain sent was not answered as a stream")
        if usage_requested and not wire.get("usage"):
            problems.append("stream_options.include_usage was sent but no chunk carried usage")
    if not isinstance(chunk_texts, list) or not chunk_texts:
        problems.append("LangChain yielded no chunk")
    elif not all(isinstance(t, str) for t in chunk_texts):
        problems.append("chunk content is not a str: "
                        f"{[type(t).__name__ for t in chunk_texts if not isinstance(t, str)]}")
    elif isinstance(message, dict) and "".join(chunk_texts) != message.get("content"):
        problems.append(f"the aggregated content {str(message.get('content'))[:80]!r} is not the concatenation of "
                        f"the chunks {''.join(chunk_texts)[:80]!r}")
    if problems:
        raise fail("LangChain's streamed message does not add up: " + "; ".join(problems),
                   expected="chunks that aggregate to the wire's content and usage", actual=message)


@check("OAI-LCHAIN-003")
def langchain_tool_calls_match_wire(message: Any, wire: Any, *, tools: list[dict[str, Any]]) -> None:
    """After ``bind_tools``, the AIMessage's ``tool_calls`` are the wire's calls parsed: same order,
    ids and names, ``args`` a dict equal to the wire's JSON arguments and valid against the bound
    tool's schema; nothing in ``invalid_tool_calls``, except the last call of an answer cut at
    ``max_tokens`` (finish_reason ``length``), which LangChain must keep there with the wire's id,
    name and raw arguments. A wire answer without a complete call is judged by its content (the call
    as text or an empty answer fails; prose is the model declining: not applicable)."""
    from conformance.harness.checks.tool_leak import judge_missing_call  # noqa: PLC0415
    from conformance.harness.checks.tools import _declared  # noqa: PLC0415

    declared = _declared(tools, flat=False)
    if not isinstance(message, dict) or not isinstance(wire, dict):
        raise fail("no LangChain message / wire answer to compare", expected="both", actual=[message, wire])
    sent = list(wire.get("tool_calls") or [])
    cut = None
    if sent and wire.get("finish_reason") == "length" and not _json_object(sent[-1].get("arguments")):
        cut = sent.pop()  # the call max_tokens cut: not a complete call
    if not sent:
        judge_missing_call("OAI-LCHAIN-003", "content", wire.get("content"), declared)
    problems = _lc_problems({**message, "invalid_tool_calls": []}, {**wire, "tool_calls": sent}, kind="AIMessage")
    invalid = list(message.get("invalid_tool_calls") or [])
    if cut is not None:
        if len(invalid) != 1 or (invalid[0].get("id"), invalid[0].get("name"), invalid[0].get("args")) != (
                cut.get("id"), cut.get("name"), cut.get("arguments")):
            problems.append(f"the call max_tokens cut ({cut!r:.160}) is not LangChain's one invalid_tool_call "
                            f"({invalid!r:.200})")
    elif invalid:
        problems.append(f"LangChain could not parse tool call(s): {invalid!r:.200}")
    mine = message.get("tool_calls") or []
    for i, (got, wire_call) in enumerate(zip(mine, sent)):
        where = f"tool_calls[{i}]"
        if got.get("name") != wire_call.get("name"):
            problems.append(f"{where}.name {got.get('name')!r} but the wire's {wire_call.get('name')!r}")
        if got.get("id") != wire_call.get("id"):
            problems.append(f"{where}.id {got.get('id')!r} but the wire's {wire_call.get('id')!r}")
        args = got.get("args")
        if not isinstance(args, dict):
            problems.append(f"{where}.args is {type(args).__name__}, not a dict")
            continue
        if args != _json_object(wire_call.get("arguments")):
            problems.append(f"{where}.args {args!r:.120} differ from the wire's arguments "
                            f"{wire_call.get('arguments')!r:.120}")
        validator = declared.get(got.get("name"))
        if validator is None:
            problems.append(f"{where}.name {got.get('name')!r} is not a bound tool ({sorted(declared)})")
        elif errors := sorted(e.message for e in validator.iter_errors(args)):
            problems.append(f"{where}.args invalid against the tool's schema: {errors[0]}")
    if problems:
        raise fail("LangChain's tool calls do not match the endpoint's: " + "; ".join(problems),
                   expected="the wire's tool calls, parsed", actual=mine)


def _json_object(text: Any) -> dict[str, Any] | None:
    try:
        value = json.loads(text) if isinstance(text, str) else None
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


@check("OAI-LCHAIN-004")
def langchain_image_message_answered(message: Any, wire: Any, request: Any, *, image_url: str) -> None:
    """A HumanMessage with an ``image_url`` part went out unchanged (the request on the wire carries
    the part with the image's URL) and came back as an AIMessage matching the wire (as in
    OAI-LCHAIN-001)."""
    messages = request.get("messages") if isinstance(request, dict) else None
    parts = [p for m in (messages if isinstance(messages, list) else []) if isinstance(m, dict)
             and isinstance(m.get("content"), list) for p in m["content"] if isinstance(p, dict)]
    sent = [p for p in parts if p.get("type") == "image_url" and isinstance(p.get("image_url"), dict)
            and p["image_url"].get("url") == image_url]
    problems = [] if sent else [f"the request on the wire carries no image_url part with the image "
                                f"(parts: {[p.get('type') for p in parts]})"]
    problems += _lc_problems(message, wire, kind="AIMessage")
    if problems:
        raise fail("LangChain's image message was not sent or answered as given: " + "; ".join(problems),
                   expected="an image_url part on the wire and an AIMessage matching the answer", actual=message)
