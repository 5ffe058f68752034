"""``python -m hpo_widget ...`` works like the ``hpo-widget`` command."""

from __future__ import annotations

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
