#!/usr/bin/env bash
# Parity of sftkit's model with the PyTorch reference (../shared/reference) on fresh random models of every
# make_tiny.py variant (+ packed rows, + the real stories260K): runs ref_llama.py and `sftkit dump`, prints errors.
# Needs ../shared and Debian's /usr/bin/python3 with torch. Not part of `npm test`.
set -euo pipefail
cd "$(dirname "$0")/.."
exec node --import tsx scripts/parity.ts "$@"
