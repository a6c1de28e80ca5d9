"""Stream layers over the strict SSE parse: :mod:`.openai` (chat / text completions chunks),
:mod:`.responses` (Responses events) and :mod:`.anthropic` (Messages events). They describe a
stream and never judge it; all three extend :class:`.base.EventStream`, which names the shared
concepts (exchange, SSE events, the ``[DONE]`` terminator, unknown types, malformed payloads) once."""
