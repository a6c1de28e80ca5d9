"""One redaction function for every sink."""

from conformance.harness.redaction import MASK, redact, redact_headers, redact_url, register_secret


def test_registered_secret_is_masked_everywhere():
    register_secret("nvapi-ABCDEFGHIJKLMNOP-1")
    assert "nvapi-ABCDEFGHIJKLMNOP-1" not in redact('{"k": "nvapi-ABCDEFGHIJKLMNOP-1"}')


def test_bearer_and_known_key_shapes_are_masked_without_registration():
    text = redact("Authorization: Bearer abcdefghijklmnop sk-live-0123456789abcdef")
    assert "abcdefghijklmnop" not in text and "sk-live-0123456789abcdef" not in text and "Bearer " + MASK in text


def test_sensitive_headers_are_masked():
    out = dict(redact_headers([("Authorization", "Bearer x"), ("x-api-key", "k"), ("content-type", "a/b")]))
    assert out == {"Authorization": MASK, "x-api-key": MASK, "content-type": "a/b"}


def test_urls_lose_userinfo_and_key_parameters():
    url = redact_url("https://user:pass@host.example/v1?api_key=abc&x=1")
    assert "pass" not in url and "abc" not in url and "x=1" in url


def test_short_values_are_not_registered():
    register_secret("ab")
    assert redact("about") == "about"
