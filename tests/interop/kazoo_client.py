"""Run as a program: kazoo logs in to ZooKeeper with DIGEST-MD5 and prints what happened.

``python -m tests.interop.kazoo_client HOSTS PASSWORD kit|pure-sasl NODE``: with
``kit``, ``sasl_kit.compat.puresasl.install()`` runs before kazoo is imported, so
kazoo's ``import puresasl`` gets the drop-in; with ``pure-sasl``, the real one.
It writes NODE under a ``sasl`` ACL for the user, reads it back, and prints one
JSON object: which module kazoo used, the data and ACL read back, or the names
of the errors kazoo raised (in its connection thread and to the caller). Its own
process, because kazoo binds ``puresasl`` once, when it is first imported.
"""

from __future__ import annotations

import json
import sys
import threading
from typing import Any


def main(hosts: str, password: str, which: str, node: str) -> dict[str, Any]:
    if which == "kit":
        from sasl_kit.compat import puresasl

        puresasl.install()
    thread_errors: list[str] = []
    threading.excepthook = lambda args: thread_errors.append(type(args.exc_value).__name__)

    import puresasl
    from kazoo.client import KazooClient
    from kazoo.security import make_acl

    report: dict[str, Any] = {"puresasl": puresasl.__name__, "module": puresasl.__file__}
    options = {"mechanism": "DIGEST-MD5", "username": "alice", "password": password}
    zk = KazooClient(hosts=hosts, sasl_options=options, timeout=5)
    try:
        zk.start(timeout=10)
        if zk.exists(node):
            zk.delete(node)
        zk.create(node, b"written through SASL", acl=[make_acl("sasl", "alice", all=True)])
        data, _ = zk.get(node)
        acl = zk.get_acls(node)[0][0]
        report |= {"data": data.decode(), "acl": [acl.id.scheme, acl.id.id, acl.perms]}
    except Exception as exc:
        report["error"] = type(exc).__name__
    finally:
        zk.stop()
        zk.close()
    report["thread_errors"] = thread_errors
    return report


if __name__ == "__main__":
    print(json.dumps(main(*sys.argv[1:5])))
