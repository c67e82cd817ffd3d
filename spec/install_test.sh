#!/usr/bin/env bash
# install_test.sh: installs the build into a scratch prefix and uses it as
# users do: examples/embed/host.c built with pkg-config and with CMake's
# find_package(lugo), both run; the installed command and Lua module run.
# Usage: bash spec/install_test.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=${1:?usage: install_test.sh BUILD_DIR SOURCE_DIR}
src=${2:?usage: install_test.sh BUILD_DIR SOURCE_DIR}
prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT
cmake --install "$build" --prefix "$prefix" >/dev/null
pc=$(dirname "$(find "$prefix" -name lugo.pc)")
export PKG_CONFIG_PATH=$pc
libdir=$(pkg-config --variable=libdir lugo)
echo "== pkg-config: $(pkg-config --cflags --libs lugo)"
cc -o "$prefix/host_pc" "$src/examples/embed/host.c" $(pkg-config --cflags --libs lugo) -lpthread \
   -Wl,-rpath,"$libdir"
(cd "$src/examples/embed" && "$prefix/host_pc")
echo "== find_package(lugo)"
cmake -S "$src/examples/embed" -B "$prefix/cmake-build" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$prefix/cmake-build" >/dev/null
(cd "$src/examples/embed" && "$prefix/cmake-build/embed_host")
echo "== the installed command and module"
"$prefix/bin/lugo" -e 'local lugo = require "lugo"; local c = lugo.chan(); lugo.go(function() c:send("ok") end); print("lugo: " .. c:recv())'
module=$(find "$prefix" -name lugo.so)
LUA_CPATH="$(dirname "$module")/?.so" lua5.4 -e 'local lugo = require "lugo"; local c = lugo.chan(); lugo.go(function() c:send("ok") end); print("lua5.4: " .. c:recv())'
