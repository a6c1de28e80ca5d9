"""The fault hooks, one module per API family (``openai``: chat and text completions;
``responses``; ``anthropic``; ``nim``; ``http``: status, envelopes and Content-Type for every API;
``neutral``: wire transformations that must change no verdict; ``context``: the context window and
token limits; ``media``: multimodal requests), and ``common`` helpers. Each hook
is a small pure function over one stage of an exchange (see ``conformance.faults.model``).
"""
