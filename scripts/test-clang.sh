#!/usr/bin/env bash
# macOS / FreeBSD readiness on Linux: builds the native addon with clang/clang++ (the compiler Apple ships) into
# build-clang/ and runs the kernel tests (engine + NF4 GEMM) against it on this x86-64 machine, every ISA path the
# CPU has. Then, when an aarch64 sysroot is installed (g++-aarch64-linux-gnu), compiles the sources with clang for
# arm64 as well (syntax and codegen of the NEON paths, as Apple clang would see them; not linked or run).
# Usage: bash scripts/test-clang.sh [test path filters...]   (default: test/engine/ test/quant/nf4-gemm)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v clang++ > /dev/null || { echo "test-clang: clang++ not found (apt-get install -y clang)"; exit 1; }

echo "test-clang: building with $(clang++ --version | head -1)"
node scripts/build-native.mjs --cc clang --out build-clang/sftkit.node

if [ -d /usr/aarch64-linux-gnu/include ]; then
  echo "test-clang: compiling native/src for aarch64 with clang (-Werror)"
  ADDON_INC=$(node -p "require('node-addon-api').include_dir")
  NODE_INC=$(node -p "require('path').join(process.execPath, '..', '..', 'include', 'node')")
  [ -f "$NODE_INC/node_api.h" ] || NODE_INC=/usr/include/node
  for src in native/src/*.cpp; do
    clang++ --target=aarch64-linux-gnu --sysroot=/usr/aarch64-linux-gnu -std=c++17 -O2 -Wall -Wextra -Werror \
      -Wno-unused-parameter -DNAPI_VERSION=8 -DNODE_ADDON_API_DISABLE_CPP_EXCEPTIONS -I"$ADDON_INC" -I"$NODE_INC" \
      -Inative/src -c "$src" -o /dev/null
  done
fi

if [ "$#" -eq 0 ]; then set -- test/engine/ test/quant/nf4-gemm; fi
echo "test-clang: running $* against build-clang/sftkit.node"
SFTKIT_NATIVE="$PWD/build-clang/sftkit.node" node scripts/test.mjs "$@"
