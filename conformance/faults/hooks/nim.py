"""Fault hooks for NVIDIA NIM management routes."""

from __future__ import annotations

from conformance.faults.model import CHAT, READY, FaultContext, Request, Response


def not_serving(ctx: FaultContext, request: Request) -> Request | Response:
    if request.path == READY and request.method in ("GET", "HEAD"):
        return Response.json_answer(200, {"object": "health.response", "message": "ready"})
    if request.path == CHAT:
        return Response.json_answer(
            503, {"error": {"message": "the model is not loaded yet", "type": "server_error", "code": 503}},
            reason="Service Unavailable")
    return request
