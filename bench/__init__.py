"""Benchmarks of the plugin against a bare loop of its client and against s3dlio.

Scripts, not part of the product (nothing under ``pytest_sai3/`` imports them):
``python -m bench.compare`` measures ops/s and client CPU per op, ``python -m
bench.memory`` the peak RSS of a long run against a short one, ``python -m
bench.bytecodes`` the Python bytecodes per op of the plugin and the bare loop.
Run them from the repository root after ``pip install -e '.[bench]'``; s3dlio is
a benchmark-only dependency.
"""
