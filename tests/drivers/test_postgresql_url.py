"""What a postgresql:// URL says beyond host and port: its database and sslmode.

The names and modes are libpq's (PostgreSQL 15 docs, 34.1.1 Connection Strings,
34.19.1 sslmode); sasl-kit verifies the certificate in every TLS mode.
"""

from __future__ import annotations

import pytest

from sasl_kit.drivers import url_options
from sasl_kit.errors import UsageError
from sasl_kit.probe import Target


@pytest.mark.parametrize(
    ("url", "tls", "options"),
    [
        ("postgresql://db.example.org", "none", ()),
        ("postgres://db.example.org:6543/", "none", ()),
        ("postgresql://db.example.org/shop?sslmode=require", "starttls", (("database", "shop"),)),
        (
            "postgresql://db.example.org/sh%20op?sslmode=verify-full",
            "starttls",
            (("database", "sh op"),),
        ),
        ("postgresql://db.example.org/shop?sslmode=disable", "none", (("database", "shop"),)),
    ],
)
def test_a_url_gives_the_tls_mode_and_the_database(
    url: str, tls: str, options: tuple[tuple[str, str], ...]
) -> None:
    target = Target.from_url(url)
    assert (target.protocol, target.tls, target.options) == ("postgresql", tls, options)
    assert target.port == (6543 if ":6543" in url else 5432)
    assert Target.from_url(target.url) == target  # the URL shown probes the same


def test_the_url_shown_names_the_database_and_sslmode() -> None:
    target = Target.from_url("postgres://db.example.org/sh%2Fop?sslmode=verify-full")
    assert target.url == "postgresql://db.example.org:5432/sh%2Fop?sslmode=require"
    assert target.without_tls().url == "postgresql://db.example.org:5432/sh%2Fop"


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://db.example.org/shop?sslmode=prefer",  # TLS only if it happens to work
        "postgresql://db.example.org/shop?sslmode=allow",
        "postgresql://db.example.org/shop?application_name=x",
        "postgresql://db.example.org/shop?sslmode",
        "postgresql://db.example.org/a/b",
    ],
)
def test_what_the_driver_does_not_take_is_a_usage_error(url: str) -> None:
    with pytest.raises(UsageError):
        Target.from_url(url)


def test_a_protocol_whose_driver_reads_no_url_options_takes_none() -> None:
    assert url_options("smtp", "/", "") == (None, {})
    with pytest.raises(UsageError, match="no path or query"):
        Target.from_url("smtp://mail.example.org/inbox")
