#!/usr/bin/env bash
# Builds marker-py.wasm from app.py with componentize-py, which bundles CPython and the app
# into one component for world `hook`. Needs: scripts/install-plugin-toolchains python
LANG_NAME=python PLUGIN_NAME=marker-py
source "$(dirname "$0")/../lang-common.sh"
COMPONENTIZE_PY=$TOOLCHAINS/venv/bin/componentize-py
need_version componentize-py "$COMPONENTIZE_PY_VERSION" "$COMPONENTIZE_PY" --version
# Build from a copy so that Python's byte-code caches stay out of the source tree.
cp "$PLUGINS_DIR/python/app.py" "$BUILD_DIR/"
cd "$BUILD_DIR"
"$COMPONENTIZE_PY" --wit-path "$WIT_DIR" --world hook componentize app --output "$OUTPUT"
done_building
