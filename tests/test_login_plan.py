"""The login plan: the registry's choice for one login, and how each mechanism is made.

The expected choice is always the registry's own (``Registry.choose`` with the
same arguments): the plan must not choose differently from it. The precedence
of the settings is the one the four logins had before they shared the plan
(sasl_kit/login_plan.py's rules).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sasl_kit import MechanismInfo, PolicyRefused, Registry, default_registry
from sasl_kit.errors import UsageError
from sasl_kit.login_plan import LoginPlan, plan_login
from sasl_kit.mechanisms.base import ChannelBinding, ClientMechanism, ClientOptions
from sasl_kit.registry import credential_kinds

BINDING = ChannelBinding("tls-server-end-point", bytes(range(32)))
OTHER_BINDING = ChannelBinding("tls-unique", bytes(12))
PLUS_AND_NOT = ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"]


def _plan(offered: Collection[str], **changes: object) -> LoginPlan:
    arguments: dict[str, object] = {
        "encrypted": True,
        "username": "tim",
        "password": "tanstaaftanstaaf",
        "service": "imap",
        "host": "mail.example.org",
        "options": {},
    }
    arguments.update(changes)
    return plan_login(default_registry, offered, **arguments)  # type: ignore[arg-type]


def _options(plan: LoginPlan) -> list[ClientOptions]:
    return [mechanism.options for _, mechanism in plan]


def test_the_protocols_service_host_and_authzid_give_way_to_the_callers_options() -> None:
    (given,) = _options(_plan(["CRAM-MD5"], authzid="admin"))
    assert (given.service, given.host, given.authzid) == ("imap", "mail.example.org", "admin")
    options = {"service": "x-service", "host": "mx.example.org", "authzid": "root", "realm": "r"}
    (overridden,) = _options(_plan(["CRAM-MD5"], authzid="admin", options=options))
    assert (overridden.service, overridden.host, overridden.authzid, overridden.realm) == (
        "x-service",
        "mx.example.org",
        "root",
        "r",
    )


@pytest.mark.parametrize(
    ("name", "value", "said"),
    [
        ("username", "eve", "username is the login's own argument"),
        ("password", "guess", "password is the login's own argument"),
        ("channel_binding", OTHER_BINDING, "channel_binding comes from this connection"),
        ("channel_binding", None, "channel_binding comes from this connection"),
        ("server_offers_plus", False, "server_offers_plus is what the login reads"),
    ],
)
def test_what_the_login_knows_itself_is_refused_as_an_option(
    name: str, value: object, said: str
) -> None:
    # Before, such an option was silently replaced by the login's own value.
    with pytest.raises(UsageError, match=said) as raised:
        _plan(PLUS_AND_NOT, options={name: value}, binding=BINDING)
    assert "tanstaaftanstaaf" not in str(raised.value)


def test_the_logins_own_values_reach_every_mechanism() -> None:
    plan = _plan(PLUS_AND_NOT, binding=BINDING)
    for made in _options(plan):
        assert (made.username, made.password) == ("tim", "tanstaaftanstaaf")
        assert made.channel_binding == BINDING
        assert made.server_offers_plus is True


def test_a_channel_binding_option_that_is_the_logins_binding_is_that_binding() -> None:
    # As the sync bridges hand it over: the caller's channel_binding option is the binding.
    plan = _plan(PLUS_AND_NOT, options={"channel_binding": BINDING}, binding=BINDING)
    assert [made.channel_binding for made in _options(plan)] == [BINDING, BINDING]


@pytest.mark.parametrize(
    ("offered", "binding", "usable", "offers_plus"),
    [
        (PLUS_AND_NOT, BINDING, PLUS_AND_NOT, True),
        (PLUS_AND_NOT, None, ["SCRAM-SHA-256"], True),
        (["SCRAM-SHA-256"], BINDING, ["SCRAM-SHA-256"], False),
    ],
)
def test_the_binding_makes_plus_usable_and_the_offer_alone_sets_server_offers_plus(
    offered: list[str], binding: ChannelBinding | None, usable: list[str], offers_plus: bool
) -> None:
    plan = _plan(offered, binding=binding)
    assert [name for name, _ in plan] == usable
    for made in _options(plan):
        assert made.channel_binding == binding
        assert made.server_offers_plus is offers_plus


def test_mechanisms_come_strongest_first_as_the_registry_orders_them() -> None:
    offered = ["plain", "LOGIN", "CRAM-MD5", "SCRAM-SHA-1", "DIGEST-MD5", "GSSAPI"]
    plan = _plan(offered)
    expected = default_registry.choose(offered, encrypted=True)
    assert plan.choice == expected
    assert [name for name, _ in plan] == [info.name for info in expected.usable]
    assert [name for name, _ in plan][:2] == ["SCRAM-SHA-1", "DIGEST-MD5"]


MADE: list[str] = []
"""The names of the ``_Recorded`` clients made, in order."""


class _Recorded(ClientMechanism):
    def __init__(self, options: ClientOptions) -> None:
        super().__init__(options)
        MADE.append(self.name)

    def _step(self, data: bytes | None) -> bytes | None:
        self._finish()
        return b""


class _Strong(_Recorded):
    name = "X-STRONG"


class _Weak(_Recorded):
    name = "X-WEAK"


def test_each_mechanism_is_made_only_when_the_login_reaches_it() -> None:
    registry = Registry(
        [MechanismInfo("X-STRONG", _Strong, None, 9), MechanismInfo("X-WEAK", _Weak, None, 8)]
    )
    MADE.clear()
    plan = plan_login(
        registry,
        ["X-WEAK", "X-STRONG"],
        encrypted=True,
        username="tim",
        password="tanstaaftanstaaf",
        service="imap",
        host="mail.example.org",
        options={},
    )
    attempts = iter(plan)
    assert MADE == []
    assert next(attempts)[0] == "X-STRONG"
    assert MADE == ["X-STRONG"]
    assert next(attempts)[0] == "X-WEAK"
    assert MADE == ["X-STRONG", "X-WEAK"]
    assert next(attempts, None) is None


def test_what_the_caller_has_decides_and_passed_over_says_why_the_rest_are_not_tried() -> None:
    offered = ["SCRAM-SHA-256-PLUS", "OAUTHBEARER", "ANONYMOUS", "PLAIN", "GSSAPI"]
    plan = _plan(offered, encrypted=False)
    assert plan.choice == default_registry.choose(offered, encrypted=False)
    assert set(plan.choice.passed_over) == set(offered)
    assert plan.choice.passed_over["PLAIN"] == (
        "sends its secret in the clear on an unencrypted connection"
    )
    everything = _plan(
        offered, options={"token": "a-token"}, anonymous=True, binding=BINDING, password=""
    )
    assert [name for name, _ in everything] == ["OAUTHBEARER", "ANONYMOUS"]
    assert everything.choice == default_registry.choose(
        offered, encrypted=True, channel_binding=True, credentials=["token", "none"]
    )
    plain = _plan(offered, encrypted=False, allow_plaintext=True, allow=["plain"])
    assert [name for name, _ in plain] == ["PLAIN"]
    assert plain.choice.passed_over["OAUTHBEARER"] == "not in the allow list"


def test_nothing_usable_is_policy_refused_naming_every_reason_before_anything_is_made() -> None:
    plan = _plan(["PLAIN", "GSSAPI"], encrypted=False)
    with pytest.raises(PolicyRefused, match=r"PLAIN: sends its secret .*; GSSAPI: no client"):
        iter(plan)


def test_a_plan_shows_no_secret() -> None:
    plan = _plan(["PLAIN"], options={"token": "a-token"})
    assert "tanstaaftanstaaf" not in repr(plan)
    assert not hasattr(plan, "__dict__")


NAMES = [info.name for info in default_registry] + ["GSSAPI", "X-UNKNOWN"]


POLICY = st.fixed_dictionaries(
    {
        "encrypted": st.booleans(),
        "allow_plaintext": st.booleans(),
        "allow": st.none() | st.lists(st.sampled_from(NAMES), max_size=4),
    }
)
"""The arguments that plan_login hands to Registry.choose as they are."""


@given(
    offered=st.lists(
        st.sampled_from(NAMES).map(lambda n: n.lower() if len(n) % 2 else n), max_size=8
    ),
    policy=POLICY,
    password=st.sampled_from(["", "tanstaaftanstaaf"]),
    token=st.sampled_from([None, "a-token"]),
    anonymous=st.booleans(),
    binding=st.sampled_from([None, BINDING]),
)
@settings(max_examples=200, deadline=None)
def test_a_plan_tries_exactly_the_registrys_choice_with_one_set_of_settings(
    offered: list[str],
    policy: dict[str, Any],
    password: str,
    token: str | None,
    anonymous: bool,
    binding: ChannelBinding | None,
) -> None:
    options = {} if token is None else {"token": token}
    plan = _plan(
        offered, password=password, options=options, anonymous=anonymous, binding=binding, **policy
    )
    credentials = credential_kinds(password, token, anonymous)
    expected = default_registry.choose(
        offered, channel_binding=binding is not None, credentials=credentials, **policy
    )
    assert plan.choice == expected
    if not expected.usable:
        with pytest.raises(PolicyRefused):
            iter(plan)
        return
    tried = list(plan)
    assert [name for name, _ in tried] == [info.name for info in expected.usable]
    for name, mechanism in tried:
        assert mechanism.name == name
        made = mechanism.options
        assert (made.username, made.password, made.token) == ("tim", password, token or "")
        assert (made.service, made.host) == ("imap", "mail.example.org")
        assert made.channel_binding == binding
        assert made.server_offers_plus is expected.offers_channel_binding
