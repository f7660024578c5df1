"""Documents to clean text to chunks with provenance."""

from __future__ import annotations

from pathlib import Path

DEFAULT_CORPUS_DIR = Path(__file__).resolve().parent
