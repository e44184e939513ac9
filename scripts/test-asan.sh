#!/usr/bin/env bash
# Builds the native addon with AddressSanitizer + UndefinedBehaviorSanitizer into build-asan/ (the
# sources listed in binding.gyp, compiled directly with g++) and runs the engine kernel tests against it.
# Exits non-zero when the build fails, a sanitizer reports an error, or a test fails.
# Usage: bash scripts/test-asan.sh [test path filters...]   (default: test/engine/)
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=build-asan
CXX=${CXX:-g++}
NODE_INC=$(node -p "require('path').join(process.execPath, '..', '..', 'include', 'node')")
[ -f "$NODE_INC/node_api.h" ] || NODE_INC=/usr/include/node
ADDON_INC=$(node -p "require('node-addon-api').include_dir")
mapfile -t SOURCES < <(node -e "
  const g = eval('(' + require('fs').readFileSync('binding.gyp', 'utf8') + ')');
  for (const s of g.targets.find((t) => t.target_name === 'sftkit').sources) console.log(s);")

FLAGS=(-std=c++17 -O1 -g -fPIC -pthread -fno-omit-frame-pointer -fno-math-errno
  -fsanitize=address,undefined -fno-sanitize-recover=all
  -DNAPI_VERSION=8 -DNODE_ADDON_API_DISABLE_CPP_EXCEPTIONS -DNODE_GYP_MODULE_NAME=sftkit -DBUILDING_NODE_EXTENSION
  -I"$NODE_INC" -I"$ADDON_INC" -Inative/src -Wall -Wextra -Wno-unused-parameter)

mkdir -p "$OUT/obj"
echo "test-asan: compiling ${#SOURCES[@]} sources into $OUT/"
pids=()
for src in "${SOURCES[@]}"; do
  obj="$OUT/obj/$(basename "${src%.*}").o"
  "$CXX" "${FLAGS[@]}" -c "$src" -o "$obj" &
  pids+=($!)
  # Two compiles at a time: the machine is shared.
  if [ "${#pids[@]}" -ge 2 ]; then wait "${pids[0]}"; pids=("${pids[@]:1}"); fi
done
for p in "${pids[@]}"; do wait "$p"; done
"$CXX" -shared -fsanitize=address,undefined -pthread -o "$OUT/sftkit.node" "$OUT"/obj/*.o

# node itself is not instrumented, so the ASan runtime must be loaded first.
LIBASAN=$("$CXX" -print-file-name=libasan.so)
LIBUBSAN=$("$CXX" -print-file-name=libubsan.so)
export SFTKIT_NATIVE="$PWD/$OUT/sftkit.node"
# Lets tests skip what a sanitizer build distorts (RSS growth from the quarantine and shadow memory).
export SFTKIT_ASAN=1
# The sanitized addon must have every kernel: a missing one fails instead of skipping.
export SFTKIT_REQUIRE_NATIVE=1
export LD_PRELOAD="$LIBASAN $LIBUBSAN"
# node leaks by design at exit; V8 installs its own SEGV handler.
export ASAN_OPTIONS="detect_leaks=0:handle_segv=0:allow_user_segv_handler=1:abort_on_error=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
if [ "$#" -eq 0 ]; then set -- test/engine/; fi
echo "test-asan: running $* against $SFTKIT_NATIVE"
node scripts/test.mjs "$@"
