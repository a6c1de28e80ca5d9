"""chat.completions · concurrency: N concurrent streams, each well formed and isolated."""

import asyncio

import pytest

from conformance.harness.checks import openai as checks
from conformance.harness.requirements import requirement

pytestmark = [pytest.mark.requires("streaming", "stream_usage"),
              pytest.mark.alone("concurrency: it owns the endpoint's slots while its streams run")]

COUNT = [{"role": "user", "content": "Count from one to fifty, separated by commas: one, two, three,"}]


@requirement("OAI-CONC-001")
async def test_concurrent_streams_are_well_formed_and_isolated(oai, client, settings):
    n = settings.concurrency
    # Each stream's marker is its own max_tokens: a stream cut by max_tokens must report exactly it.
    limits = [4 + i for i in range(n)]
    bodies = [oai.with_model({"messages": COUNT, "max_tokens": limit, "temperature": 0, "stream": True,
                              "stream_options": {"include_usage": True}}) for limit in limits]
    exchanges = await asyncio.gather(*(client.arequest("POST", "/v1/chat/completions", json=body, stream=True)
                                       for body in bodies))
    streams = [oai.stream_exchange(ex) for ex in exchanges]  # passive checks: each stream well formed
    checks.concurrent_streams_isolated(streams, max_tokens=limits)
