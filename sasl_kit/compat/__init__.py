"""Drop-in replacements for other SASL libraries' APIs, backed by sasl-kit.

Nothing here is imported by ``import sasl_kit``: a program that wants one
imports it (or installs its alias, see ``puresasl.install``).
"""
