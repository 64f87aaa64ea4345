"""pytest-sai3: storage benchmarks collected and run as pytest items."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    # The warning class lives here for ``-W error::pytest_sai3.Sai3Warning``; it is
    # imported on demand so that the model and the engine load without pytest.
    if name == "Sai3Warning":
        from pytest_sai3.errors import Sai3Warning

        return Sai3Warning
    raise AttributeError(f"module 'pytest_sai3' has no attribute {name!r}")
