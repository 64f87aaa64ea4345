"""pytest-sai3: storage benchmarks collected and run as pytest items."""

from __future__ import annotations

__version__ = "0.1.0"
