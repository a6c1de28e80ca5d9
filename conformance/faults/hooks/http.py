"""Fault hooks on HTTP framing shared by every API: status codes, error envelopes, Content-Type."""

from __future__ import annotations

from conformance.faults.model import MESSAGES, FaultContext, Request, Response

#: The share of generation requests the rate-limit fault answers 429 (drawn per request from the
#: proxy's seeded generator, so a retry is drawn again), and the Retry-After it sends (seconds).
RATE_LIMIT_SHARE = 0.1
RATE_LIMIT_RETRY_AFTER = "1"


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


def rate_limited(ctx: FaultContext, request: Request) -> Request | Response:
    """A share (:data:`RATE_LIMIT_SHARE`) of requests is answered 429 Too Many Requests with
    ``Retry-After: 1`` and the API's rate-limit error envelope, by the proxy (the upstream is not
    called). Each request draws anew, so a retry after the wait usually goes through."""
    if ctx.rng.random() >= RATE_LIMIT_SHARE:
        return request
    message = "Rate limit reached (injected by the llmconf fault proxy): retry after 1 s"
    if request.path == MESSAGES:
        body: dict[str, object] = {"type": "error", "error": {"type": "rate_limit_error", "message": message}}
    else:
        body = {"error": {"message": message, "type": "rate_limit_error", "param": None, "code": "rate_limit_exceeded"}}
    return Response.json_answer(429, body, reason="Too Many Requests").with_header("retry-after",
                                                                                  RATE_LIMIT_RETRY_AFTER)
