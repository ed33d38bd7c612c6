#!/usr/bin/env bash
# Builds marker-js.wasm from marker.js with componentize-js (SpiderMonkey on StarlingMonkey).
# Needs: scripts/install-plugin-toolchains js
LANG_NAME=js PLUGIN_NAME=marker-js
source "$(dirname "$0")/../lang-common.sh"
NODE_DIR=$TOOLCHAINS/node
COMPONENTIZE_JS=$NODE_DIR/node_modules/.bin/componentize-js
WASI_WIT=$NODE_DIR/node_modules/@bytecodealliance/jco/lib/wit/builtin/0.2.12
need_version componentize-js "$(sed -n 's/.*"@bytecodealliance\/componentize-js": "\(.*\)".*/\1/p' "$PLUGINS_DIR/js/package.json")" \
  "$COMPONENTIZE_JS" --version
command -v node >/dev/null || missing "node (Node.js >= 20)"
# The WIT package the plugin is built against: its world (world.wit) plus what it uses,
# hooklet's contract and the WASI interfaces (from the WIT jco ships).
mkdir -p "$BUILD_DIR/wit/deps/hooklet-hook"
cp "$PLUGINS_DIR/js/world.wit" "$BUILD_DIR/wit/"
cp "$WIT_DIR"/*.wit "$BUILD_DIR/wit/deps/hooklet-hook/"
for package in io clocks filesystem; do
  cp -r "$WASI_WIT/wasi-$package" "$BUILD_DIR/wit/deps/"
done
# `-d http fetch-event`: the plugin makes no HTTP requests, and hooklet offers no wasi:http.
"$COMPONENTIZE_JS" "$PLUGINS_DIR/js/marker.js" --wit "$BUILD_DIR/wit" --world-name marker \
  --disable http fetch-event --out "$OUTPUT"
done_building
