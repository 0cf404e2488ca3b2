#!/usr/bin/env bash
# Type-check the package as it is installed (eibench.*). The source folders are mapped onto the
# eibench namespace by setuptools, which mypy cannot follow, so build a tree of links that has the
# installed shape and check that.
set -euo pipefail
cd "$(dirname "$0")/.."
tree=build/typecheck
rm -rf "$tree"
mkdir -p "$tree/eibench"
for f in eibench/*; do ln -s "$PWD/$f" "$tree/eibench/"; done
for d in scenarios simulator harness server tui train; do ln -s "$PWD/$d" "$tree/eibench/$d"; done
cd "$tree" && mypy --config-file ../../pyproject.toml -p eibench "$@"
