"""Weak legacy algorithms, fenced off (after ``cryptography``'s ``decrepit``).

Rules of this package:
- Nothing here is safe for new protocols. It exists because deployed peers
  still negotiate these algorithms, and it is reached only on a caller's explicit
  request: DIGEST-MD5's ``auth-conf`` ciphers (``ciphers``: RC4, DES, 3DES) and
  NTLM's MD4, DES-L and LM hash (``nlmp``; DES only with ``allow_ntlmv1``).
- ``ciphers`` is the one module that imports ``cryptography``'s decrepit
  package; ``nlmp`` composes those ciphers the way MS-NLMP section 6 does.
"""
