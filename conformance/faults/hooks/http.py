"""Fault hooks on HTTP framing shared by every API: status codes, error envelopes, Content-Type."""

from __future__ import annotations

from conformance.faults.model import FaultContext, Response


# --- HTTP status, envelopes, headers ---------------------------------------------------------------


def client_error_to_500(ctx: FaultContext, response: Response) -> Response:
    if 400 <= response.status < 500:
        return response.with_status(500, "Internal Server Error")
    return response




def malformed_envelope(ctx: FaultContext, response: Response) -> Response:
    if 400 <= response.status < 500 and response.json is not None:
        return response.with_json({"detail": "bad request"}).with_header("content-type", "application/json")
    return response


def text_plain_stream(ctx: FaultContext, head: Response) -> Response:
    if head.content_type == "text/event-stream":
        return head.with_header("content-type", "text/plain; charset=utf-8")
    return head


def text_html_json(ctx: FaultContext, response: Response) -> Response:
    if response.is_json:
        return response.with_header("content-type", "text/html; charset=utf-8")
    return response
