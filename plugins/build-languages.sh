#!/usr/bin/env bash
# Builds the marker plugin in every language (or the ones named) into plugins/target/lang/
# and reports which built and which failed, with each one's time and size.
#
#   plugins/build-languages.sh [LANG...]    LANG: python js c go zig (default: all)
#
# The Rust marker is built with the other Rust examples (scripts/build-plugins). The tools
# come from scripts/install-plugin-toolchains. Exits non-zero if any language failed.
set -uo pipefail
cd "$(dirname "$0")"
langs=("$@")
[ ${#langs[@]} -gt 0 ] || langs=(python js c go zig)
failed=()
mkdir -p target
for lang in "${langs[@]}"; do
  started=$SECONDS
  if bash "$lang/build.sh" >"target/build-$lang.log" 2>&1; then
    echo "ok      $lang  $((SECONDS - started))s  $(tail -n 1 "target/build-$lang.log")"
  else
    echo "FAILED  $lang  $((SECONDS - started))s  (log: plugins/target/build-$lang.log)"
    tail -n 5 "target/build-$lang.log" | sed 's/^/        /'
    failed+=("$lang")
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "failed: ${failed[*]}" >&2
  exit 1
fi
