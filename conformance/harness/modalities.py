"""Which media an endpoint takes, in which request shapes, and in which tier (issue 10).

Pure: no pytest, no transport. The plugin builds one :class:`Modalities` per run (fixture
``modalities``) from

* the profile: the capabilities ``vision`` / ``audio`` / ``video`` say a modality is *present*;
  ``settings.input_modalities`` (e.g. ``["text"]``) states the model's inputs exhaustively, so a
  modality missing from it is *absent*; ``settings.media_shapes`` (per modality, the part shapes
  the endpoint family uses) overrides :data:`DEFAULT_SHAPES`; ``settings.media_formats`` (per
  modality, the file formats the endpoint documents) keeps the others from being sent;
* the endpoint's own statement where it makes one (:func:`stated_by_endpoint`: llama.cpp
  ``/props`` ``modalities``, ``/v1/models`` ``architecture.input_modalities``), which wins over
  the profile for absence.

A modality that is neither declared present nor stated absent is *unknown*: the tests that need
it present skip (capability not declared), and the "no modality" tests skip too, saying that
nothing states the endpoint's inputs (rule 9: a skip needs positive evidence, so does a
"must reject" verdict).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["CAPABILITY", "DEFAULT_SHAPES", "MEDIA_TIERS", "MODALITIES", "SHAPES", "Modalities",
           "loopback", "media_format", "stated_by_endpoint", "tier_allows"]

MODALITIES = ("image", "audio", "video")
#: modality → the capability that declares it present.
CAPABILITY = {"image": "vision", "audio": "audio", "video": "video"}
#: ``--media``: ``off`` (no media requests at all; the "no modality" rules still run: they are
#: cheap and protect text-only endpoints), ``basic`` (tiny media, 1 s clips, a few frames) and
#: ``full`` (also large images, many media per request, longer clips).
MEDIA_TIERS = ("off", "basic", "full")
#: Every request shape a test may use, by modality (the names ``settings.media_shapes`` lists).
SHAPES: dict[str, tuple[str, ...]] = {
    # image_url: chat part {"type":"image_url","image_url":{"url":...}} (data URI; by URL where
    # the media server is reachable); input_image: Responses; anthropic_image: Messages image block
    "image": ("image_url", "input_image", "anthropic_image"),
    # input_audio: OpenAI {"type":"input_audio","input_audio":{"data":b64,"format":"wav"}};
    # audio_url: NIM {"type":"audio_url","audio_url":{"url":...}}
    "audio": ("input_audio", "audio_url"),
    # video_url: NIM {"type":"video_url","video_url":{"url":...}}
    "video": ("video_url",),
}
#: Shapes assumed when the profile lists none for a modality (input_image / anthropic_image also
#: need the responses / messages capability).
DEFAULT_SHAPES: dict[str, tuple[str, ...]] = {
    "image": ("image_url", "input_image", "anthropic_image"),
    "audio": ("input_audio",),
    "video": ("video_url",),
}
_LOOPBACK = ("127.", "localhost", "::1", "[::1]")


def tier_allows(selected: str, needed: str) -> bool:
    """Whether ``--media selected`` runs a test of tier ``needed`` (``basic`` or ``full``)."""
    return MEDIA_TIERS.index(selected) >= MEDIA_TIERS.index(needed)


def media_format(name: str) -> str:
    """A format name as ``settings.media_formats`` lists it: a file extension, lower case, ``jpg``
    spelled ``jpeg``."""
    name = name.strip().lower().lstrip(".")
    return "jpeg" if name == "jpg" else name


def loopback(host: str | None) -> bool:
    return bool(host) and any(str(host).lower().startswith(p) for p in _LOOPBACK)


def stated_by_endpoint(props: Any, models: Any, *, model: str | None = None) -> tuple[frozenset[str] | None, str]:
    """The input modalities the endpoint states (``None``: it states none) and where it says so.

    ``props``: the JSON of llama.cpp ``GET /props`` (``{"modalities": {"vision": bool, "audio":
    bool, "video": bool}}``); ``models``: the JSON of ``GET /v1/models`` (``data[].architecture.
    input_modalities``, as llama.cpp and OpenRouter-style servers give it). Either may be ``None``.
    ``model``: the model under test; its own entry is read. Without it, the first entry (the
    model the suite requests by default). When it is not listed, the first entry only if it is the
    only one (a single-model server, whose id may differ from the requested name): a list of many
    models (a hosted provider) states nothing about a model it does not list.
    """
    if isinstance(props, Mapping) and isinstance(props.get("modalities"), Mapping):
        flags = props["modalities"]
        names = {"vision": "image", "audio": "audio", "video": "video"}
        if all(isinstance(flags.get(k), bool) for k in names):
            found = {"text"} | {m for k, m in names.items() if flags[k]}
            return frozenset(found), "GET /props modalities"
    if isinstance(models, Mapping) and isinstance(models.get("data"), list) and models["data"]:
        data = models["data"]
        own = [e for e in data if isinstance(e, Mapping) and model is not None and e.get("id") == model]
        first = own[0] if own else data[0] if model is None or len(data) == 1 else None
        arch = first.get("architecture") if isinstance(first, Mapping) else None
        inputs = arch.get("input_modalities") if isinstance(arch, Mapping) else None
        if isinstance(inputs, list) and all(isinstance(x, str) for x in inputs) and inputs:
            return frozenset(inputs), "GET /v1/models data[].architecture.input_modalities"
    return None, ""


@dataclass(frozen=True)
class Modalities:
    """What the run knows about the endpoint's media inputs."""

    #: capabilities the profile declares (only vision/audio/video/responses/messages matter here)
    capabilities: frozenset[str]
    #: the profile's settings.input_modalities (None: not stated)
    profile_inputs: frozenset[str] | None = None
    profile_name: str = ""
    #: the endpoint's own statement (None: none) and its source
    endpoint_inputs: frozenset[str] | None = None
    endpoint_source: str = ""
    #: settings.media_shapes (modality → shapes); missing modalities use DEFAULT_SHAPES
    shapes_declared: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    tier: str = "basic"
    #: settings.media_formats (modality → the file formats the endpoint documents, e.g. NIM's image
    #: ["gif", "jpeg", "png"]); a modality not listed takes every format the suite makes
    formats_declared: Mapping[str, frozenset[str]] = field(default_factory=dict)

    @classmethod
    def build(cls, *, capabilities: Iterable[str], settings: Mapping[str, Any], profile_name: str,
              endpoint_inputs: frozenset[str] | None = None, endpoint_source: str = "",
              tier: str = "basic") -> Modalities:
        raw_inputs = settings.get("input_modalities")
        inputs = frozenset(raw_inputs) if isinstance(raw_inputs, list) else None
        raw_shapes = settings.get("media_shapes") or {}
        shapes = {m: tuple(v) for m, v in raw_shapes.items()} if isinstance(raw_shapes, Mapping) else {}
        raw_formats = settings.get("media_formats") or {}
        formats = ({m: frozenset(media_format(str(f)) for f in v) for m, v in raw_formats.items()
                    if isinstance(v, list)} if isinstance(raw_formats, Mapping) else {})
        return cls(frozenset(capabilities), inputs, profile_name, endpoint_inputs, endpoint_source, shapes, tier,
                   formats)

    def present(self, modality: str) -> bool:
        return CAPABILITY[modality] in self.capabilities

    def absent_reason(self, modality: str) -> str | None:
        """Positive evidence that the endpoint does not take ``modality`` (None: no evidence)."""
        if self.present(modality):
            return None
        if self.endpoint_inputs is not None and modality not in self.endpoint_inputs:
            return f"the endpoint states its inputs are {sorted(self.endpoint_inputs)} ({self.endpoint_source})"
        if self.endpoint_inputs is not None:
            return None  # the endpoint states it takes the modality (the model served may not be the profile's)
        if self.profile_inputs is not None and modality not in self.profile_inputs:
            return (f"profile {self.profile_name!r} states input_modalities {sorted(self.profile_inputs)} "
                    f"and does not declare '{CAPABILITY[modality]}'")
        return None

    def unknown_reason(self, modality: str) -> str:
        """Why neither rule applies (the skip reason of a "no modality" test)."""
        if self.endpoint_inputs is not None and modality in self.endpoint_inputs:
            return (f"the endpoint states it takes {modality} ({self.endpoint_source}) but capability "
                    f"'{CAPABILITY[modality]}' is not declared: declare it (--add-capability) to judge the media tests")
        return (f"nothing states whether the endpoint takes {modality}: capability '{CAPABILITY[modality]}' is not "
                f"declared, and neither the profile (settings.input_modalities) nor the endpoint (/props, "
                f"/v1/models input_modalities) lists its inputs")

    def shapes(self, modality: str) -> tuple[str, ...]:
        shapes = self.shapes_declared.get(modality, DEFAULT_SHAPES[modality])
        if "input_image" in shapes and "responses" not in self.capabilities:
            shapes = tuple(s for s in shapes if s != "input_image")
        if "anthropic_image" in shapes and "messages" not in self.capabilities:
            shapes = tuple(s for s in shapes if s != "anthropic_image")
        return shapes

    def has_shape(self, modality: str, shape: str) -> bool:
        return self.present(modality) and shape in self.shapes(modality)

    def format_reason(self, medium: Any) -> str | None:
        """Why ``medium`` (a :class:`conformance.harness.media.Medium`) is not for this endpoint: the
        profile lists the formats of its modality (``settings.media_formats``) and not this one
        (the skip reason). None: it may be sent."""
        declared = self.formats_declared.get(medium.kind)
        fmt = media_format(medium.extension)
        if declared is None or fmt in declared:
            return None
        return (f"profile {self.profile_name!r} lists {medium.kind} formats {sorted(declared)} "
                f"(settings.media_formats), not {fmt}")

    def lines(self) -> list[str]:
        present = [m for m in MODALITIES if self.present(m)]
        absent = [m for m in MODALITIES if self.absent_reason(m)]
        out = [f"media tier {self.tier}: present {present or 'none'}, absent {absent or 'none'}"]
        if self.endpoint_inputs is not None:
            out.append(f"endpoint states inputs {sorted(self.endpoint_inputs)} ({self.endpoint_source})")
        for m in present:
            formats = f"; formats {', '.join(sorted(self.formats_declared[m]))}" if m in self.formats_declared else ""
            out.append(f"{m} shapes: {', '.join(self.shapes(m)) or 'none'}{formats}")
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "tier": self.tier,
            "present": [m for m in MODALITIES if self.present(m)],
            "absent": {m: r for m in MODALITIES if (r := self.absent_reason(m))},
            "endpoint_inputs": sorted(self.endpoint_inputs) if self.endpoint_inputs is not None else None,
            "endpoint_source": self.endpoint_source or None,
            "profile_inputs": sorted(self.profile_inputs) if self.profile_inputs is not None else None,
            "shapes": {m: list(self.shapes(m)) for m in MODALITIES if self.present(m)},
            "formats": {m: sorted(f) for m, f in self.formats_declared.items() if self.present(m)},
        }
