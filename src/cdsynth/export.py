"""Hub-ready folders: cdsynth's outputs with the cards the Hugging Face Hub and `datasets` read.

CD_GENERATE_DIR                      # contrastive decoding for transformers' generate
"""

from __future__ import annotations

from pathlib import Path

# a custom_generate repo (README.md card + custom_generate/generate.py): pass it as
# `model.generate(custom_generate=str(CD_GENERATE_DIR), trust_remote_code=True, ...)`
CD_GENERATE_DIR = Path(__file__).resolve().parent / "transformers_cd"
