"""``python -m sasl_kit``: the ``sasl-kit`` command (sasl_kit.cli)."""

from sasl_kit.cli import main

raise SystemExit(main())
