#!/bin/sh
# Prints the directory holding the `node` of the release the image runs on (the Dockerfile's
# `FROM node:<version>-...`), fetched once from the npm registry (package node-linux-<arch>,
# checked against the registry's integrity hash by `npm pack`) into .tmp/node/<version>/.
# .ci/run puts it first on PATH to run the test suite on that release too:
#
#   PATH="$(tools/lts-node.sh):$PATH" npm test
set -eu
cd "$(dirname "$0")/.."

version=$(sed -n 's/^FROM \(--platform=[^ ]* \)\{0,1\}node:\([0-9][0-9]*\.[0-9][0-9]*\.[0-9][0-9]*\)-.*/\2/p' Dockerfile | head -n 1)
if [ -z "$version" ]; then
  echo "lts-node: no 'FROM node:<x.y.z>-...' line in Dockerfile" >&2
  exit 1
fi
case $(uname -m) in
  x86_64) arch=x64 ;;
  aarch64 | arm64) arch=arm64 ;;
  *) echo "lts-node: no node-linux-* package for $(uname -m)" >&2; exit 1 ;;
esac

dir=.tmp/node/$version
if [ ! -x "$dir/bin/node" ]; then
  mkdir -p .tmp/node
  tmp=$(mktemp -d .tmp/node/fetch-XXXXXX)
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && npm pack "node-linux-$arch@$version" --silent --no-fund --no-audit >/dev/null)
  # Only the binary and its licence: the headers are for compiling addons, which nothing here does.
  tar -xzf "$tmp/node-linux-$arch-$version.tgz" -C "$tmp" package/bin/node package/LICENSE
  rm -rf "$dir"
  mv "$tmp/package" "$dir"
fi

actual=$("$dir/bin/node" --version)
if [ "$actual" != "v$version" ]; then
  echo "lts-node: $dir/bin/node is $actual, expected v$version" >&2
  exit 1
fi
# The release line must be in LTS: Node's own build says so (process.release.lts is its codename,
# absent on a Current release), so a Dockerfile bumped to a non-LTS line fails here.
lts=$("$dir/bin/node" -p 'process.release.lts || ""')
if [ -z "$lts" ]; then
  echo "lts-node: v$version is not an LTS release (process.release.lts is empty)" >&2
  exit 1
fi
echo "$PWD/$dir/bin"
