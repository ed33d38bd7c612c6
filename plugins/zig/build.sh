#!/usr/bin/env bash
# Builds marker-zig.wasm: `wit-bindgen c` generates hook.h/hook.c from wit/hook.wit, Zig
# (from PyPI's ziglang) compiles them with marker.zig and its bundled wasi-libc into a
# WASI 0.1 reactor module, and wasm-tools makes that a component (lang-common.sh).
# Needs: scripts/install-plugin-toolchains zig
LANG_NAME=zig PLUGIN_NAME=marker-zig
source "$(dirname "$0")/../lang-common.sh"
WIT_BINDGEN=$TOOLCHAINS/cargo/bin/wit-bindgen
PYTHON=$TOOLCHAINS/venv/bin/python
need_version wit-bindgen-cli "$WIT_BINDGEN_CLI_VERSION" "$WIT_BINDGEN" --version
need_version "Zig (PyPI ziglang)" "$ZIGLANG_VERSION" "$PYTHON" -m ziglang version
"$WIT_BINDGEN" c "$WIT_DIR" --world hook --out-dir "$BUILD_DIR/bindings" 2>/dev/null
cd "$BUILD_DIR"
# Zig caches: what it builds once (wasi-libc) with the tools, the rest in the build dir.
export ZIG_GLOBAL_CACHE_DIR=$TOOLCHAINS/zig-cache ZIG_LOCAL_CACHE_DIR=$BUILD_DIR/zig-cache
# -fno-entry -mexec-model=reactor: a library-like module with `_initialize` and no `main`;
# hook_component_type.o carries the world's types; -lc: wasi-libc for fopen and friends;
# --stack: 1 MiB instead of Zig's 16 MiB default, which every instance would allocate.
"$PYTHON" -m ziglang build-exe "$PLUGINS_DIR/zig/marker.zig" \
  -target wasm32-wasi -O ReleaseSmall -fno-entry -mexec-model=reactor -lc --stack 1048576 \
  -I bindings bindings/hook.c bindings/hook_component_type.o \
  -femit-bin="$BUILD_DIR/marker.core.wasm"
componentize "$BUILD_DIR/marker.core.wasm"
done_building
