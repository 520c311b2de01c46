"""The interop fixtures (peers, private Dovecot and Postfix) for the recorded transcripts."""

from tests.interop.conftest import cyrus, dovecot, gsasl, mail_store, postfix

__all__ = ["cyrus", "dovecot", "gsasl", "mail_store", "postfix"]
