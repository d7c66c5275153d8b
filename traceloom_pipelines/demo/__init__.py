"""Deterministic demo world generator: drop files for every source contract plus an answer key.

Entry point: :func:`traceloom_pipelines.demo.generator.generate_world` (re-exported here).
"""

from traceloom_pipelines.demo.generator import generate_world

__all__ = ["generate_world"]
