#!/usr/bin/env bash
# Builds marker-c.wasm: `wit-bindgen c` generates hook.h/hook.c from wit/hook.wit, Debian's
# clang compiles them with marker.c (hook_component_type.o carries the world's types) against wasi-libc into a WASI 0.1 reactor module, and
# wasm-tools makes that a component (lang-common.sh: componentize).
# Needs: scripts/install-plugin-toolchains c
LANG_NAME=c PLUGIN_NAME=marker-c
source "$(dirname "$0")/../lang-common.sh"
WIT_BINDGEN=$TOOLCHAINS/cargo/bin/wit-bindgen
need_version wit-bindgen-cli "$WIT_BINDGEN_CLI_VERSION" "$WIT_BINDGEN" --version
need_version "$CLANG (Debian: $DEBIAN_PACKAGES)" 14.0.6 "$CLANG" --version
need /usr/lib/wasm32-wasi/libc.a "wasi-libc (Debian: $DEBIAN_PACKAGES)"
"$WIT_BINDGEN" c "$WIT_DIR" --world hook --out-dir "$BUILD_DIR/bindings" 2>/dev/null
# -mexec-model=reactor: a library-like module with `_initialize` and no `main`; the
# canonical-ABI exports stay because the bindings mark them `export_name`.
"$CLANG" --target=wasm32-wasi --sysroot=/usr -mexec-model=reactor -O2 -Wall -Werror \
  -fuse-ld=lld -Wl,--strip-debug -I "$BUILD_DIR/bindings" \
  "$PLUGINS_DIR/c/marker.c" "$BUILD_DIR/bindings/hook.c" \
  "$BUILD_DIR/bindings/hook_component_type.o" -o "$BUILD_DIR/marker.core.wasm"
componentize "$BUILD_DIR/marker.core.wasm"
done_building
