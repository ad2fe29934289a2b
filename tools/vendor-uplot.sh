#!/bin/bash
# Vendor uPlot (the dashboard's plotting library) from the npm registry into
# web/vendor/uplot/: uPlot.esm.js, uPlot.min.css, LICENSE and VERSION.
#
#   tools/vendor-uplot.sh [VERSION]   fetch VERSION (default: the newest 1.6.x;
#                                     "1.6.32" pins one, "1.6" or "latest" resolve)
#   tools/vendor-uplot.sh --check     offline: the vendored files still have the
#                                     sha256 sums VERSION records
#
# The tarball comes from `npm pack` (which checks it against the registry's
# integrity); this script checks it again: its sha512 must equal the
# registry's dist.integrity and, when VERSION already records this version,
# the integrity recorded there. Needs npm, node, tar, sha256sum.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=web/vendor/uplot
files=(uPlot.esm.js uPlot.min.css LICENSE)

die() { echo "vendor-uplot: $*" >&2; exit 1; }

if [ "${1:-}" = "--check" ]; then
	[ -f "$dest/VERSION" ] || die "$dest/VERSION is missing"
	for f in "${files[@]}"; do
		want=$(sed -n "s/^file $f sha256 \([0-9a-f]\{64\}\)$/\1/p" "$dest/VERSION")
		[ -n "$want" ] || die "$dest/VERSION records no sha256 for $f"
		have=$(sha256sum "$dest/$f" | cut -d' ' -f1)
		[ "$want" = "$have" ] || die "$dest/$f: sha256 $have, VERSION says $want"
	done
	echo "vendor-uplot: $dest matches VERSION ($(head -n1 "$dest/VERSION"))"
	exit 0
fi

spec=${1:-1.6}
for tool in npm node tar sha256sum; do
	command -v "$tool" > /dev/null || die "needs $tool"
done
case "$spec" in
latest) version=$(npm view "uplot@latest" version) ;;
[0-9]*.[0-9]*.[0-9]*) version=$spec ;;
[0-9]*) # a range such as 1.6: the newest version in it
	version=$(npm view "uplot@~$spec" version --json |
		node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{
			let v=[].concat(JSON.parse(s)).filter(x=>/^\d+\.\d+\.\d+$/.test(x));
			const n=x=>x.split(".").map(Number);
			v.sort((a,b)=>{const p=n(a),q=n(b);return p[0]-q[0]||p[1]-q[1]||p[2]-q[2]});
			console.log(v.length?v[v.length-1]:"")})') ;;
*) die "VERSION must look like 1.6.32, 1.6 or latest, not '$spec'" ;;
esac
[[ "$version" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "no uplot version for '$spec' (got '$version')"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "vendor-uplot: uplot@$version"
(cd "$tmp" && npm pack "uplot@$version" --json --silent > pack.json)
tgz="$tmp/uplot-$version.tgz"
[ -f "$tgz" ] || die "npm pack wrote no $tgz"

integrity=$(npm view "uplot@$version" dist.integrity)
computed=$(node -e 'const c=require("crypto"),f=require("fs");
	console.log("sha512-"+c.createHash("sha512").update(f.readFileSync(process.argv[1])).digest("base64"))' "$tgz")
[ "$computed" = "$integrity" ] || die "integrity mismatch: tarball $computed, registry $integrity"
if [ -f "$dest/VERSION" ] && grep -q "^uplot $version\$" "$dest/VERSION"; then
	recorded=$(sed -n 's/^integrity //p' "$dest/VERSION")
	[ "$recorded" = "$integrity" ] ||
		die "uplot@$version has integrity $integrity, but $dest/VERSION recorded $recorded"
fi
sha256=$(sha256sum "$tgz" | cut -d' ' -f1)

tar -xzf "$tgz" -C "$tmp"
pkg="$tmp/package"
license=$(node -e 'console.log(require(process.argv[1]).license || "UNKNOWN")' "$pkg/package.json")
mkdir -p "$dest"
cp "$pkg/dist/uPlot.esm.js" "$pkg/dist/uPlot.min.css" "$pkg/LICENSE" "$tmp/"
{
	echo "uplot $version"
	echo "source npm registry, package uplot@$version (uplot-$version.tgz)"
	echo "tarball sha256 $sha256"
	echo "integrity $integrity"
	echo "license $license (see LICENSE)"
	for f in "${files[@]}"; do
		echo "file $f sha256 $(sha256sum "$tmp/$f" | cut -d' ' -f1)"
	done
	echo "files uPlot.esm.js and uPlot.min.css are package/dist/*, LICENSE is package/LICENSE, unchanged"
	echo "refresh tools/vendor-uplot.sh [VERSION]; check tools/vendor-uplot.sh --check"
} > "$tmp/VERSION"
for f in "${files[@]}" VERSION; do
	install -m 0644 "$tmp/$f" "$dest/$f"
done
echo "vendor-uplot: $dest now holds uplot $version ($license, sha256 $sha256)"
