#!/usr/bin/env bash
# Refreshes the Swagger UI files that internal/docs embeds, from the npm
# registry with npm's own client: the pinned version's tarball, checked
# against the integrity (sha512) the registry publishes and, when the
# version is the one already recorded, against the recorded integrity too.
# Only the files the page serves are kept, with the package's licence and
# notice; internal/docs/swagger-ui/SOURCE records the version, the
# integrity and each file's SHA-256 (TestEmbeddedAssetsMatchSource checks
# the files against it).
#
#   scripts/docs-assets.sh            re-fetch the recorded version
#   scripts/docs-assets.sh 5.36.0     move to another version
set -euo pipefail
cd "$(dirname "$0")/.."

pkg=swagger-ui-dist
dir=internal/docs/swagger-ui
files=(swagger-ui-bundle.js swagger-ui-bundle.js.LICENSE.txt swagger-ui.css index.css LICENSE NOTICE)

recorded_version=$(sed -n 's/^version //p' "$dir/SOURCE" 2>/dev/null || true)
recorded_integrity=$(sed -n 's/^integrity //p' "$dir/SOURCE" 2>/dev/null || true)
version=${1:-$recorded_version}
[ -n "$version" ] || { echo "docs-assets: no version recorded in $dir/SOURCE; give one" >&2; exit 2; }

integrity=$(npm view "$pkg@$version" dist.integrity)
tarball=$(npm view "$pkg@$version" dist.tarball)
if [ "$version" = "$recorded_version" ] && [ "$integrity" != "$recorded_integrity" ]; then
	echo "docs-assets: the registry's integrity for $pkg@$version changed: recorded $recorded_integrity, now $integrity" >&2
	exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# npm pack verifies the download against the registry's integrity; check
# it again against the value read above, so what is recorded is what was
# verified.
(cd "$tmp" && npm pack --silent "$pkg@$version" >/dev/null)
got="sha512-$(openssl dgst -sha512 -binary "$tmp/$pkg-$version.tgz" | base64 -w0)"
if [ "$got" != "$integrity" ]; then
	echo "docs-assets: $pkg-$version.tgz has $got, the registry says $integrity" >&2
	exit 1
fi
tar -xzf "$tmp/$pkg-$version.tgz" -C "$tmp"

rm -rf "$dir"
mkdir -p "$dir"
{
	echo "# Swagger UI for GET /docs: written by scripts/docs-assets.sh (make docs-assets), not by hand."
	echo "package $pkg"
	echo "version $version"
	echo "tarball $tarball"
	echo "integrity $integrity"
	echo "license $(jq -r .license "$tmp/package/package.json")"
	for f in "${files[@]}"; do
		cp "$tmp/package/$f" "$dir/$f"
		echo "sha256 $(sha256sum "$dir/$f" | cut -d' ' -f1) $f"
	done
} >"$dir/SOURCE"
echo "docs-assets: $pkg@$version ($integrity) in $dir"
