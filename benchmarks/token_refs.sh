#!/usr/bin/env bash
# Installs the reference tokenizers that benchmarks/token_estimate.py measures against, into a
# folder of their own, not the project's venv: mistral-common pins numpy < 2.4, and ctok
# declares Python >= 3.12 though it runs on 3.11. Nothing here is needed at run time.
#   bash benchmarks/token_refs.sh /tmp/tokrefs
#   .venv/bin/python benchmarks/token_estimate.py --refs /tmp/tokrefs [--record | --fit]
set -euo pipefail
DIR=${1:-/tmp/tokrefs}
PIP=${PIP:-.venv/bin/pip}
"$PIP" install --quiet --target "$DIR" --no-deps --ignore-requires-python \
    mistral-common==1.13.1 sentencepiece==0.2.3 pydantic-extra-types==2.11.1 pycountry==26.2.16 \
    pillow==13.0.0 jsonschema==4.26.0 jsonschema-specifications==2025.9.1 referencing==0.37.0 \
    rpds-py==2026.9.1 attrs==26.1.0 llama-models==0.3.0 ctok==1.3.0
# Claude 2's tokenizer.json, as the anthropic SDK shipped it up to 0.38.0 (MIT).
"$PIP" download --quiet --no-deps --dest "$DIR" anthropic==0.38.0
