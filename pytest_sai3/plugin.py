"""pytest entry point: options, ini keys, hooks and fixtures (glue only)."""

from __future__ import annotations
