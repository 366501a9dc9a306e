#!/bin/sh
# The image's build steps, shared by the Dockerfile and test/integration/image.test.ts (which has
# no Docker engine and runs them into a temporary folder), so the test exercises what ships.
#
#   docker/image.sh build <src>           compile the TypeScript in <src> (dev deps installed there)
#   docker/image.sh install <src> <dest>  production install into <dest>: the package files the
#                                         runtime needs, then `npm ci --omit=dev`
set -eu

cmd=${1:-}
case "$cmd" in
  build)
    cd "$2"
    ./node_modules/.bin/tsc -p tsconfig.build.json
    ;;
  install)
    src=$2
    dest=$3
    mkdir -p "$dest/dist"
    cp "$src/package.json" "$src/package-lock.json" "$dest/"
    cp -R "$src/bin" "$src/crds" "$src/examples" "$dest/"
    # Only the runtime's compiled code: the CLI and the two processes with the API and helpers they share.
    cp -R "$src/dist/cli.js" "$src/dist/api" "$src/dist/lib" "$src/dist/sidecar" "$src/dist/operator" "$dest/dist/"
    chmod 0755 "$dest/bin/spillway.js" "$dest/bin/kubectl-spillway"
    cd "$dest"
    # The runtime's package.json has no devDependencies and no scripts: `npm ci` then checks the
    # lockfile against the production dependencies only (the dev tree's platform-specific
    # optional packages do not matter here), and no build script can run.
    node -e '
      const fs = require("node:fs");
      const pkg = JSON.parse(fs.readFileSync("package.json", "utf8"));
      delete pkg.devDependencies;
      delete pkg.scripts;
      fs.writeFileSync("package.json", JSON.stringify(pkg, null, 2) + "\n");
    '
    # --ignore-scripts: no runtime dependency needs an install script.
    # --prefer-offline: reuse the npm cache when it has the tarballs.
    npm ci --omit=dev --ignore-scripts --no-audit --no-fund --prefer-offline --loglevel=error
    ;;
  *)
    echo "usage: docker/image.sh build <src> | install <src> <dest>" >&2
    exit 2
    ;;
esac
