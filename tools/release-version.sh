#!/bin/sh
# tools/release-version.sh v<version>: the release workflow's first check. The tag, package.json's
# version, the chart's version and appVersion, and the image in the chart's Artifact Hub
# annotation must all be one version, so the chart's default image is the one the workflow
# publishes. Prints the version; says what disagrees and exits 1 otherwise.
set -eu
cd "$(dirname "$0")/.."

tag=${1:-}
case $tag in
  v[0-9]*.[0-9]*.[0-9]*) ;;
  *) echo "release-version: '$tag' is not a release tag v<major>.<minor>.<patch>" >&2; exit 1 ;;
esac
version=${tag#v}

pkg=$(sed -n 's/^  "version": "\(.*\)",$/\1/p' package.json | head -n 1)
chart=$(sed -n 's/^version: *\([^ ]*\) *$/\1/p' charts/spillway/Chart.yaml)
app=$(sed -n 's/^appVersion: *"\{0,1\}\([^" ]*\)"\{0,1\} *$/\1/p' charts/spillway/Chart.yaml)
image=$(sed -n 's|^ *image: ghcr.io/spillway-io/spillway:\([^ ]*\) *$|\1|p' charts/spillway/Chart.yaml)

bad=""
[ "$pkg" = "$version" ] || bad="$bad package.json version '$pkg';"
[ "$chart" = "$version" ] || bad="$bad Chart.yaml version '$chart';"
[ "$app" = "$version" ] || bad="$bad Chart.yaml appVersion '$app';"
[ "$image" = "$version" ] || bad="$bad Chart.yaml artifacthub.io/images spillway tag '$image';"
if [ -n "$bad" ]; then
  echo "release-version: tag $tag, but$bad set them all to $version" >&2
  exit 1
fi
echo "$version"
