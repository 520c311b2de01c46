"""The registry: lookup, strength order, negotiation, plaintext policy, entry points."""

from __future__ import annotations

from importlib.metadata import EntryPoint

import pytest

import sasl_kit
from sasl_kit import MechanismInfo, PolicyRefused, Registry, UnknownMechanism, UsageError
from sasl_kit.mechanisms.base import ClientMechanism
from sasl_kit.registry import BUILTINS


class _Echo(ClientMechanism):
    name = "X-ECHO"

    def _step(self, data: bytes | None) -> bytes | None:
        self._finish()
        return data


def test_names_are_case_insensitive() -> None:
    assert sasl_kit.client("cram-md5", username="u", password="p").name == "CRAM-MD5"
    assert "digest-md5" in sasl_kit.default_registry


def test_unknown_mechanism_and_bad_option_are_usage_errors() -> None:
    with pytest.raises(UnknownMechanism, match="X-NONE"):
        sasl_kit.client("X-NONE")
    with pytest.raises(UsageError, match="bad option"):
        sasl_kit.client("PLAIN", pasword="typo")


def test_iteration_is_strongest_first() -> None:
    strengths = [info.strength for info in sasl_kit.default_registry]
    assert strengths == sorted(strengths, reverse=True)
    assert [i.name for i in sasl_kit.default_registry][:2] == [
        "SCRAM-SHA-512-PLUS",
        "SCRAM-SHA-256-PLUS",
    ]


def test_choose_picks_the_strongest_offered() -> None:
    choice = sasl_kit.default_registry.choose(
        ["PLAIN", "LOGIN", "CRAM-MD5", "DIGEST-MD5", "GSSAPI"], encrypted=True
    )
    assert choice.best.name == "DIGEST-MD5"
    assert [i.name for i in choice.usable] == ["DIGEST-MD5", "CRAM-MD5", "PLAIN", "LOGIN"]
    assert choice.passed_over == {"GSSAPI": "no client side registered"}


def test_choose_refuses_plaintext_without_encryption_unless_opted_in() -> None:
    registry = sasl_kit.default_registry
    choice = registry.choose(["PLAIN", "LOGIN"], encrypted=False)
    with pytest.raises(PolicyRefused, match="in the clear"):
        _ = choice.best
    assert registry.choose(["PLAIN"], encrypted=False, allow_plaintext=True).best.name == "PLAIN"
    assert registry.choose(["PLAIN", "CRAM-MD5"], encrypted=False).best.name == "CRAM-MD5"


def test_choose_honours_allow_and_deny_lists() -> None:
    registry = sasl_kit.default_registry
    offered = ["DIGEST-MD5", "CRAM-MD5", "PLAIN"]
    assert registry.choose(offered, encrypted=True, deny=["digest-md5"]).best.name == "CRAM-MD5"
    only_plain = registry.choose(offered, encrypted=True, allow=["PLAIN"])
    assert [i.name for i in only_plain.usable] == ["PLAIN"]
    assert only_plain.passed_over["CRAM-MD5"] == "not in the allow list"


def test_registering_a_non_info_is_refused() -> None:
    with pytest.raises(UsageError):
        Registry().register("PLAIN")  # type: ignore[arg-type]


def test_third_party_mechanisms_load_from_entry_points(monkeypatch: pytest.MonkeyPatch) -> None:
    info = MechanismInfo("x-echo", _Echo, None, strength=1)
    ep = EntryPoint("x-echo", f"{__name__}:ECHO_INFO", "sasl_kit.mechanisms")
    monkeypatch.setitem(globals(), "ECHO_INFO", info)
    monkeypatch.setattr("sasl_kit.registry.entry_points", lambda group: [ep])
    registry = Registry(BUILTINS)
    registry.load_entry_points()
    assert registry.client("X-ECHO").step(b"hi") == b"hi"
    with pytest.raises(UnknownMechanism, match="no server side"):
        registry.server("X-ECHO", {})


def test_channel_binding_mechanisms_need_binding_data() -> None:
    offered = ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"]
    without = sasl_kit.default_registry.choose(offered, encrypted=True)
    assert without.best.name == "SCRAM-SHA-256"
    assert "channel-binding" in without.passed_over["SCRAM-SHA-256-PLUS"]
    assert without.offers_channel_binding  # so the client sends 'y', not 'n'
    with_data = sasl_kit.default_registry.choose(offered, encrypted=True, channel_binding=True)
    assert with_data.best.name == "SCRAM-SHA-256-PLUS"
    plain_only = sasl_kit.default_registry.choose(["SCRAM-SHA-1"], encrypted=True)
    assert not plain_only.offers_channel_binding


def test_choose_takes_only_mechanisms_the_caller_has_credentials_for() -> None:
    offered = ["OAUTHBEARER", "XOAUTH2", "EXTERNAL", "ANONYMOUS", "PLAIN"]
    default = sasl_kit.default_registry.choose(offered, encrypted=True)
    assert [i.name for i in default.usable] == ["PLAIN"]
    assert "bearer token" in default.passed_over["OAUTHBEARER"]
    assert "outside SASL" in default.passed_over["EXTERNAL"]
    assert "anonymous" in default.passed_over["ANONYMOUS"]
    tokens = sasl_kit.default_registry.choose(offered, encrypted=True, credentials=["token"])
    assert [i.name for i in tokens.usable] == ["OAUTHBEARER", "XOAUTH2"]
    assert "needs a password" in tokens.passed_over["PLAIN"]
    every = sasl_kit.default_registry.choose(
        offered, encrypted=True, credentials=("password", "token", "external", "none")
    )
    assert [i.name for i in every.usable] == [
        "EXTERNAL",
        "OAUTHBEARER",
        "XOAUTH2",
        "PLAIN",
        "ANONYMOUS",
    ]


def test_token_mechanisms_need_tls_like_plaintext_ones() -> None:
    choice = sasl_kit.default_registry.choose(
        ["OAUTHBEARER", "XOAUTH2"], encrypted=False, credentials=["token"]
    )
    assert not choice.usable
    assert "in the clear" in choice.passed_over["XOAUTH2"]


def test_strength_order_places_the_new_mechanisms() -> None:
    names = [i.name for i in sasl_kit.default_registry]
    assert names.index("SCRAM-SHA-1") < names.index("EXTERNAL") < names.index("OAUTHBEARER")
    assert names.index("XOAUTH2") < names.index("DIGEST-MD5")
    assert names[-1] == "ANONYMOUS"


def test_unknown_credential_kinds_are_usage_errors() -> None:
    with pytest.raises(UsageError, match="kerberos"):
        sasl_kit.default_registry.choose(["PLAIN"], encrypted=True, credentials=["kerberos"])
    with pytest.raises(UsageError, match="unknown credential"):
        MechanismInfo("X-BAD", _Echo, None, strength=1, credential="kerberos")


def test_credential_kinds_name_what_the_caller_holds() -> None:
    from sasl_kit.registry import credential_kinds

    assert credential_kinds() == []
    assert credential_kinds("pw") == ["password"]
    assert credential_kinds("", "tok") == ["token"]
    assert credential_kinds("pw", "tok", anonymous=True) == ["password", "token", "none"]
