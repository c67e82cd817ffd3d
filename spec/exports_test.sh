#!/usr/bin/env bash
# exports_test.sh: liblugo.so exports luaopen_lugo and lugo_* names only: every
# other symbol is hidden, so a host defining the same names stays safe.
# Usage: bash spec/exports_test.sh path/to/liblugo.so
set -euo pipefail
so=${1:?usage: exports_test.sh liblugo.so}
if ! command -v nm >/dev/null; then echo "SKIP: nm not installed"; exit 77; fi
# Linker-made markers (_init, _end...) are not ours.
extra=$(nm -D --defined-only "$so" | awk '{print $NF}' |
        grep -Ev '^(luaopen_lugo|lugo_[A-Za-z0-9_]+|_init|_fini|_edata|_end|__bss_start)$' || true)
if [ -n "$extra" ]; then
  echo "FAIL: $so exports names besides luaopen_lugo and lugo_*:"
  echo "$extra"
  exit 1
fi
echo "ok: $so exports only $(nm -D --defined-only "$so" | awk '{print $NF}' | grep -E '^(luaopen_lugo|lugo_)' | tr '\n' ' ')"
