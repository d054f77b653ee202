#!/usr/bin/env bash
# Builds wt-tracker (https://github.com/Novage/wt-tracker: TypeScript on uWebSockets.js, WebSocket only) from its
# public source into a scratch directory, for bench/compare-wt.sh. Nothing of it is committed here, and it is no
# dependency of redswarm.
#
#   bash bench/wt-tracker-build.sh DIR
#
# Where the source comes from: wt-tracker is not published on the npm registry (`npm view wt-tracker`: 404), and
# this machine reaches only the npm registry and Debian, so the source is a local git mirror of
# github.com/Novage/wt-tracker: WT_TRACKER_GIT (default /work/.mirror/Novage+wt-tracker/repo, a bare clone), at
# WT_TRACKER_REF (default HEAD). With network access to GitHub, WT_TRACKER_GIT can be any clone of it.
#
# What is changed, and only that: its uWebSockets.js dependency points at GitHub (uNetworking/uWebSockets.js,
# whose install script downloads the addon); it is aliased to the npm build redswarm uses (package.json), and
# the devDependencies are cut to what its compile needs (typescript, @types/node, @types/debug, at its own versions:
# eslint and vitest are not needed to compile). Installed with --ignore-scripts, compiled with its own tsconfig
# (`tsc --noEmit false`, its "compile" script) into DIR/lib, and the native addon is checked to load (that
# build silently falls back to a JS shim on `ws` when it does not). That npm build is CommonJS only, where
# uNetworking's own package also ships an ES module wrapper (ESM_wrapper.mjs) that wt-tracker's
# `import { App } from "uWebSockets.js"` needs: the same kind of wrapper is added to the installed copy.
# Prints the commit built. Run as DIR/lib/run-tracker.js CONFIG.json (see bench/compare-wt.sh).
set -euo pipefail

cd "$(dirname "$0")/.."
DIR=${1:?usage: bash bench/wt-tracker-build.sh DIR}
GIT=${WT_TRACKER_GIT:-/work/.mirror/Novage+wt-tracker/repo}
REF=${WT_TRACKER_REF:-HEAD}

[ -d "$GIT" ] || { echo "wt-tracker-build: no wt-tracker git repository at $GIT (set WT_TRACKER_GIT)" >&2; exit 1; }
UWS=$(node -p 'require("./package.json").dependencies["uWebSockets.js"]')
COMMIT=$(git --git-dir="$GIT" rev-parse "$REF^{commit}" 2>/dev/null || git -C "$GIT" rev-parse "$REF^{commit}")

mkdir -p "$DIR"
git --git-dir="$GIT" archive "$COMMIT" 2>/dev/null | tar -x -C "$DIR" || git -C "$GIT" archive "$COMMIT" | tar -x -C "$DIR"
cd "$DIR"
node - "$UWS" <<'EOF'
const fs = require('node:fs');
const pkg = JSON.parse(fs.readFileSync('package.json', 'utf8'));
pkg.dependencies['uWebSockets.js'] = process.argv[2];
const keep = ['typescript', '@types/node', '@types/debug'];
pkg.devDependencies = Object.fromEntries(keep.map((name) => [name, pkg.devDependencies[name]]));
delete pkg.scripts; // nothing of it runs at install
fs.writeFileSync('package.json', JSON.stringify(pkg, null, 2));
EOF
rm -f package-lock.json
npm install --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null
npx --no-install tsc --noEmit false
[ -f lib/run-tracker.js ] || { echo "wt-tracker-build: tsc produced no lib/run-tracker.js" >&2; exit 1; }
node - <<'EOF'
const fs = require('node:fs');
const dir = 'node_modules/uWebSockets.js';
const uWS = require(`./${dir}`);
const native = Object.keys(require.cache).some((path) => path.endsWith('.node') && path.includes('uws_'));
if (!native || typeof uWS.App !== 'function') {
  console.error('wt-tracker-build: the native uWebSockets.js addon does not load');
  process.exit(1);
}
const pkgFile = `${dir}/package.json`;
const pkg = JSON.parse(fs.readFileSync(pkgFile, 'utf8'));
const names = Object.keys(uWS).filter((name) => /^[A-Za-z_$][\w$]*$/.test(name));
fs.writeFileSync(`${dir}/src/esm-wrapper.mjs`, `import uWS from './uws.js';\nexport default uWS;\nexport const { ${names.join(', ')} } = uWS;\n`);
pkg.exports = { import: './src/esm-wrapper.mjs', require: `./${pkg.main}` };
fs.writeFileSync(pkgFile, JSON.stringify(pkg, null, 2));
EOF
node --input-type=module -e 'import { App } from "uWebSockets.js"; if (typeof App !== "function") process.exit(1);' ||
  { echo "wt-tracker-build: wt-tracker cannot import App from uWebSockets.js" >&2; exit 1; }
echo "wt-tracker $COMMIT built in $DIR (uWebSockets.js = $UWS)"
