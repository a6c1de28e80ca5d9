"""The modality layer (conformance.harness.modalities): what the endpoint states about its inputs
(llama.cpp ``/props``, ``/v1/models`` ``input_modalities``), the present / absent / unknown
precedence, the request shapes and the media tier; and its plugin wiring through pytester:
``--media`` / ``--media-host``, the ``media`` marker, the ``modalities`` fixture against a socket
endpoint and the ``media_server`` fixture's skip rule. Nothing here sends media."""

from __future__ import annotations

import http.server
import json
import threading
from typing import Any

import pytest

from conformance.harness import modalities as mm
from tests.plugin_runs import INI

# --- stated_by_endpoint ---------------------------------------------------------------------------

PROPS_MM = {"modalities": {"vision": True, "audio": True, "video": True}}
PROPS_TEXT = {"modalities": {"vision": False, "audio": False, "video": False}}


def _models(inputs: Any, **extra: Any) -> dict[str, Any]:
    return {"object": "list", "data": [{"id": "m", "object": "model", "architecture": {"input_modalities": inputs},
                                        **extra}]}


@pytest.mark.parametrize(("props", "expected"), [
    (PROPS_MM, {"text", "image", "audio", "video"}),
    (PROPS_TEXT, {"text"}),
    ({"modalities": {"vision": True, "audio": False, "video": False}}, {"text", "image"}),
    ({"modalities": {"vision": False, "audio": True, "video": False}}, {"text", "audio"}),
])
def test_llama_cpp_props_modalities(props, expected):
    inputs, source = mm.stated_by_endpoint(props, None)
    assert inputs == frozenset(expected) and source == "GET /props modalities"


@pytest.mark.parametrize("inputs", [["text"], ["text", "image"], ["text", "image", "audio", "video"]])
def test_models_architecture_input_modalities(inputs):
    found, source = mm.stated_by_endpoint(None, _models(inputs))
    assert found == frozenset(inputs) and "architecture.input_modalities" in source


def test_props_wins_over_models():
    inputs, source = mm.stated_by_endpoint(PROPS_TEXT, _models(["text", "image"]))
    assert inputs == frozenset({"text"}) and "/props" in source


@pytest.mark.parametrize("props", [
    {"modalities": {"vision": True, "audio": True}},                 # a flag missing
    {"modalities": {"vision": 1, "audio": 0, "video": 0}},           # not booleans
    {"modalities": ["vision"]},                                      # not an object
    {"default_generation_settings": {}},                             # an older llama-server: no modalities
    "not json",
])
def test_incomplete_props_fall_back_to_models(props):
    inputs, source = mm.stated_by_endpoint(props, _models(["text", "audio"]))
    assert inputs == frozenset({"text", "audio"}) and "/v1/models" in source
    assert mm.stated_by_endpoint(props, None) == (None, "")


@pytest.mark.parametrize("models", [
    None,
    {"object": "list", "data": []},
    {"object": "list", "data": [{"id": "m", "object": "model"}]},  # no architecture (vLLM, NIM)
    _models([]),
    _models("text"),
    _models(["text", 3]),
    {"object": "list", "data": ["m"]},
    {"data": {"id": "m"}},
])
def test_no_statement(models):
    assert mm.stated_by_endpoint(None, models) == (None, "")


MANY = {"data": [{"id": "a", "architecture": {"input_modalities": ["text"]}},
                 {"id": "b", "architecture": {"input_modalities": ["text", "image"]}}]}


@pytest.mark.parametrize(("models", "model", "expected"), [
    (MANY, None, {"text"}),              # no --model: the first entry, the one the suite requests
    (MANY, "a", {"text"}),
    (MANY, "b", {"text", "image"}),      # the model under test's own entry
    (MANY, "c", None),                   # not listed among many: nothing is stated about it
    (_models(["text", "audio"]), "alias", {"text", "audio"}),  # a single-model server under another name
])
def test_the_entry_of_the_model_under_test_is_read(models, model, expected):
    inputs, _ = mm.stated_by_endpoint(None, models, model=model)
    assert inputs == (frozenset(expected) if expected is not None else None)


# --- Modalities: present / absent / unknown ------------------------------------------------------


def _build(caps: tuple[str, ...] = (), settings: dict[str, Any] | None = None, *,
           endpoint: frozenset[str] | None = None, tier: str = "basic") -> mm.Modalities:
    return mm.Modalities.build(capabilities=caps, settings=settings or {}, profile_name="p", endpoint_inputs=endpoint,
                               endpoint_source="GET /props modalities" if endpoint is not None else "", tier=tier)


def test_capability_declares_presence():
    m = _build(("chat", "vision", "audio"))
    assert m.present("image") and m.present("audio") and not m.present("video")
    assert m.absent_reason("image") is None and m.absent_reason("audio") is None


def test_a_declared_capability_is_present_whatever_else_is_stated():
    """A declared capability never skips: the tests run and judge what the endpoint does."""
    m = _build(("vision",), {"input_modalities": ["text"]}, endpoint=frozenset({"text"}))
    assert m.present("image") and m.absent_reason("image") is None


def test_endpoint_statement_gives_absence_before_the_profile():
    m = _build((), {"input_modalities": ["text", "image", "audio", "video"]}, endpoint=frozenset({"text", "audio"}))
    reason = m.absent_reason("image")
    assert reason is not None and "GET /props modalities" in reason and "['audio', 'text']" in reason
    assert m.absent_reason("audio") is None  # stated present, but not declared: unknown, not absent
    assert not m.present("audio")


def test_the_endpoint_stating_a_modality_overrides_the_profile_absence():
    """The endpoint speaks for the model it serves (the profile may describe another one)."""
    m = _build(("chat",), {"input_modalities": ["text"]}, endpoint=frozenset({"text", "image"}))
    assert m.absent_reason("image") is None and not m.present("image")
    assert "GET /props modalities" in (m.absent_reason("audio") or "")


def test_profile_statement_gives_absence_when_the_endpoint_states_nothing():
    m = _build(("chat",), {"input_modalities": ["text"]})
    for modality in mm.MODALITIES:
        reason = m.absent_reason(modality)
        assert reason is not None and "profile 'p'" in reason and mm.CAPABILITY[modality] in reason


def test_profile_listing_a_modality_without_its_capability_is_not_absence():
    m = _build(("chat",), {"input_modalities": ["text", "image"]})
    assert m.absent_reason("image") is None and m.absent_reason("audio") is not None


def test_nothing_stated_is_unknown():
    m = _build(("chat",))
    for modality in mm.MODALITIES:
        assert not m.present(modality) and m.absent_reason(modality) is None
        reason = m.unknown_reason(modality)
        assert modality in reason and mm.CAPABILITY[modality] in reason and "input_modalities" in reason


def test_malformed_settings_state_nothing():
    m = _build(("vision",), {"input_modalities": "text", "media_shapes": ["image_url"]})
    assert m.profile_inputs is None and m.absent_reason("audio") is None
    assert m.shapes("image") == ("image_url",)  # defaults (no responses / messages capability)


# --- shapes -----------------------------------------------------------------------------------------


def test_default_shapes_follow_the_api_capabilities():
    assert _build(("vision",)).shapes("image") == ("image_url",)
    assert _build(("vision", "responses")).shapes("image") == ("image_url", "input_image")
    assert _build(("vision", "messages")).shapes("image") == ("image_url", "anthropic_image")
    assert _build(("vision", "responses", "messages")).shapes("image") == mm.DEFAULT_SHAPES["image"]
    assert _build(("audio",)).shapes("audio") == ("input_audio",)
    assert _build(("video",)).shapes("video") == ("video_url",)


def test_declared_shapes_override_the_defaults():
    m = _build(("vision", "audio", "video", "responses"),
               {"media_shapes": {"image": ["image_url", "anthropic_image"], "audio": ["audio_url"]}})
    assert m.shapes("image") == ("image_url",)  # anthropic_image needs the messages capability
    assert m.shapes("audio") == ("audio_url",) and m.shapes("video") == ("video_url",)
    assert m.has_shape("audio", "audio_url") and not m.has_shape("audio", "input_audio")


def test_has_shape_needs_presence():
    m = _build((), {"media_shapes": {"audio": ["audio_url"]}})
    assert m.shapes("audio") == ("audio_url",) and not m.has_shape("audio", "audio_url")


def test_every_declared_shape_is_a_known_shape():
    for modality, shapes in mm.DEFAULT_SHAPES.items():
        assert set(shapes) <= set(mm.SHAPES[modality])
    assert set(mm.SHAPES) == set(mm.MODALITIES) == set(mm.CAPABILITY)


# --- formats ----------------------------------------------------------------------------------------


def test_declared_formats_keep_the_others_from_being_sent():
    from conformance.harness import media

    m = _build(("vision", "audio", "video"), {"media_formats": {"image": ["GIF", "jpg", ".png"], "audio": ["wav"]}})
    assert m.formats_declared["image"] == frozenset({"gif", "jpeg", "png"})
    for key in ("png-64", "jpeg-64", "gif-64", "wav-1s", "mp4-1s"):  # listed, or the modality lists none
        assert m.format_reason(media.CATALOG[key]) is None, key
    reason = m.format_reason(media.CATALOG["webp-64"])
    assert reason is not None and "['gif', 'jpeg', 'png']" in reason and "not webp" in reason
    assert "settings.media_formats" in reason and "profile 'p'" in reason
    assert "not flac" in (m.format_reason(media.CATALOG["flac-1s"]) or "")
    assert "image shapes: image_url; formats gif, jpeg, png" in m.lines()
    assert m.to_json()["formats"] == {"image": ["gif", "jpeg", "png"], "audio": ["wav"]}


def test_no_declared_formats_send_everything():
    from conformance.harness import media

    m = _build(("vision", "audio", "video"), {"media_formats": "png"})
    assert all(m.format_reason(medium) is None for medium in media.CATALOG.values())
    assert m.to_json()["formats"] == {}


def test_every_catalog_medium_has_a_format_name():
    from conformance.harness import media

    names = {mm.media_format(medium.extension) for medium in media.CATALOG.values()}
    assert names == {"png", "jpeg", "gif", "webp", "wav", "flac", "mp3", "mp4"}


# --- tier, loopback, report -----------------------------------------------------------------------


@pytest.mark.parametrize(("selected", "needed", "runs"), [
    ("off", "basic", False), ("off", "full", False),
    ("basic", "basic", True), ("basic", "full", False),
    ("full", "basic", True), ("full", "full", True),
])
def test_tier_allows(selected, needed, runs):
    assert mm.tier_allows(selected, needed) is runs


@pytest.mark.parametrize(("host", "expected"), [
    ("127.0.0.1", True), ("127.1.2.3", True), ("localhost", True), ("LOCALHOST", True), ("::1", True),
    ("[::1]", True), ("10.0.0.5", False), ("nim-host", False), ("example.com", False), ("", False), (None, False),
])
def test_loopback(host, expected):
    assert mm.loopback(host) is expected


def test_lines_and_json_say_what_is_known():
    m = _build(("vision", "messages"), {"input_modalities": ["text", "image"]}, endpoint=frozenset({"text", "image"}),
               tier="full")
    lines = m.lines()
    assert lines[0] == "media tier full: present ['image'], absent ['audio', 'video']"
    assert any("GET /props modalities" in line for line in lines)
    assert "image shapes: image_url, anthropic_image" in lines
    doc = m.to_json()
    assert doc["tier"] == "full" and doc["present"] == ["image"] and set(doc["absent"]) == {"audio", "video"}
    assert doc["endpoint_inputs"] == ["image", "text"] and doc["profile_inputs"] == ["image", "text"]
    assert doc["shapes"] == {"image": ["image_url", "anthropic_image"]}
    assert json.loads(json.dumps(doc)) == doc


def test_shipped_profiles_state_consistent_modalities():
    """A profile that declares a modality lists it in input_modalities (when it lists any) and
    names only shapes of that modality."""
    from conformance.harness import profiles

    for name in profiles.available():
        prof = profiles.load(name)
        inputs = prof.settings.get("input_modalities")
        for modality, capability in mm.CAPABILITY.items():
            if capability in prof.capabilities and inputs is not None:
                assert modality in inputs, f"{name}: declares {capability} but input_modalities omits {modality}"
        for modality, shapes in (prof.settings.get("media_shapes") or {}).items():
            assert set(shapes) <= set(mm.SHAPES[modality]), f"{name}: unknown {modality} shapes {shapes}"
        known = {"png", "jpeg", "gif", "webp", "wav", "flac", "mp3", "mp4"}
        for modality, formats in (prof.settings.get("media_formats") or {}).items():
            assert modality in mm.MODALITIES and {mm.media_format(f) for f in formats} <= known, name


# --- plugin wiring (pytester) ------------------------------------------------------------------------

PROFILE = 'name = "unit"\ndescription = "d"\nserver = "unit"\nschema_flavors = ["compat"]\ncapabilities = ["chat"]\n'

MARKED = '''
import pytest
from conformance.harness.requirements import requirement

@requirement("OAI-CHAT-001")
@pytest.mark.media("basic")
def test_basic():
    pass

@requirement("OAI-CHAT-002")
@pytest.mark.media("full")
def test_full():
    pass

@requirement("OAI-CHAT-003")
@pytest.mark.media
def test_default_tier():
    pass

@requirement("OAI-CHAT-004")
def test_no_media():
    pass
'''


@pytest.fixture
def run(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("LLMCONF_MEDIA", raising=False)
    monkeypatch.delenv("LLMCONF_MEDIA_HOST", raising=False)
    pytester.makeini(INI)
    profile = pytester.path / "unit.toml"
    profile.write_text(PROFILE)

    def go(*extra: str, endpoint: str = "http://127.0.0.1:9") -> pytest.RunResult:
        return pytester.runpytest("-p", "no:cacheprovider", "--endpoint", endpoint, "--profile", str(profile),
                                  f"--reports-dir={pytester.path / 'reports'}", "-rs", *extra)

    return go


def _skips(result: pytest.RunResult) -> str:
    return "\n".join(line for line in result.outlines if line.startswith("SKIPPED"))


@pytest.mark.parametrize("value", ["medium", "BASIC!", "2"])
def test_bad_media_tier_is_a_usage_error(run, pytester, value):
    pytester.makepyfile(test_m=MARKED)
    result = run("--media", value)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--media must be one of off, basic, full*"])


@pytest.mark.parametrize(("tier", "passed", "skipped"), [("off", 1, 3), ("basic", 3, 1), ("full", 4, 0)])
def test_media_tier_selects_marked_tests(run, pytester, tier, passed, skipped):
    pytester.makepyfile(test_m=MARKED)
    result = run("--media", tier)
    result.assert_outcomes(passed=passed, skipped=skipped)
    if skipped:
        assert f"media tier '{tier}' selected (--media)" in _skips(result)


def test_media_tier_defaults_to_basic_and_reads_the_environment(run, pytester, monkeypatch):
    pytester.makepyfile(test_m=MARKED)
    run().assert_outcomes(passed=3, skipped=1)
    monkeypatch.setenv("LLMCONF_MEDIA", "off")
    run().assert_outcomes(passed=1, skipped=3)


def test_bad_tier_in_a_marker_is_a_usage_error(run, pytester):
    pytester.makepyfile(test_m='''
import pytest
from conformance.harness.requirements import requirement

@requirement("OAI-CHAT-001")
@pytest.mark.media("huge")
def test_x():
    pass
''')
    result = run()
    assert "media tier must be basic or full, got 'huge'" in result.stdout.str() + result.stderr.str()
    assert result.ret != pytest.ExitCode.OK


SERVER_TEST = '''
from conformance.harness.requirements import requirement

@requirement("OAI-CHAT-001")
def test_uses_media_server(media_server):
    url = media_server.url("png-64")
    print("MEDIA-URL", url)
    assert url.startswith(EXPECT)
'''


def test_media_server_skips_for_a_remote_endpoint_without_media_host(run, pytester):
    pytester.makepyfile(test_s=SERVER_TEST.replace("EXPECT", '"http://"'))
    result = run(endpoint="http://nim-host.invalid:8000")
    result.assert_outcomes(skipped=1)
    skips = _skips(result)
    assert "URL media needs a media server the endpoint can reach" in skips and "nim-host.invalid" in skips
    assert "--media-host" in skips


def test_media_server_runs_for_a_loopback_endpoint(run, pytester):
    pytester.makepyfile(test_s=SERVER_TEST.replace("EXPECT", '"http://127.0.0.1:"'))
    run("-s").assert_outcomes(passed=1)


def test_media_host_names_the_address_the_endpoint_sees(run, pytester):
    pytester.makepyfile(test_s=SERVER_TEST.replace("EXPECT", '"http://10.11.12.13:"'))
    run("-s", "--media-host", "10.11.12.13", endpoint="http://nim-host.invalid:8000").assert_outcomes(passed=1)


class _Props(http.server.BaseHTTPRequestHandler):
    """A socket endpoint answering llama.cpp's /props with text-only modalities."""

    props: dict[str, Any] = PROPS_TEXT

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802
        bodies = {"/v1/models": {"object": "list", "data": [{"id": "tiny", "object": "model"}]}, "/props": self.props}
        body = bodies.get(self.path)
        data = json.dumps(body if body is not None else {"error": {"message": "not found"}}).encode()
        self.send_response(200 if body is not None else 404)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def props_endpoint():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Props)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_modalities_fixture_reads_the_endpoint_statement(run, pytester, props_endpoint):
    pytester.makepyfile(test_f='''
from conformance.harness.requirements import requirement

@requirement("OAI-CHAT-001")
def test_statement(modalities):
    assert modalities.endpoint_inputs == frozenset({"text"})
    assert "GET /props modalities" in modalities.absent_reason("image")
    assert modalities.tier == "full"
''')
    result = run("--media", "full", endpoint=props_endpoint)
    result.assert_outcomes(passed=1)
    assert "[media] media tier full: present none, absent ['image', 'audio', 'video']" in result.stdout.str()
    doc = json.loads((pytester.path / "reports" / "conformance.json").read_text())
    assert doc["modalities"]["endpoint_inputs"] == ["text"]
    assert doc["modalities"]["endpoint_source"] == "GET /props modalities"
