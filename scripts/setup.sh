#!/usr/bin/env bash
# setup.sh — install what ProvCA needs to build and test, and fetch CivetWeb's
# Debian source package into third_party/ (ignored by git).
#
# Checks before installing, so a second run is quick. Needs root (or sudo)
# and Debian's archive when something is missing; says so plainly otherwise.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
mode=${1:-build}      # build | test | bench

pkgs_build="build-essential cmake pkg-config openssl libssl-dev libsqlite3-dev sqlite3
  libcjson-dev libcurl4-openssl-dev curl libcmocka-dev dpkg-dev libpq-dev libnghttp2-dev
  libengine-pkcs11-openssl"
pkgs_test="clang libclang-rt-14-dev tshark gnutls-bin libosmocore-utils python3 python3-cryptography python3-yaml chromium
  postgresql-15 testssl.sh softhsm2 opensc python3-h2 nghttp2-client"
pkgs_bench="nginx golang-cfssl linux-perf valgrind"

want=$pkgs_build
case "$mode" in
  test)  want="$want $pkgs_test" ;;
  bench) want="$want $pkgs_test $pkgs_bench" ;;
esac

missing=()
for p in $want; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then sudo_cmd=(sudo); else sudo_cmd=(); fi
fi

apt_updated=0
apt_update() {
  if [ $apt_updated -eq 0 ]; then
    "${sudo_cmd[@]}" apt-get update -qq || {
      echo "setup: apt-get update failed: is Debian's archive reachable?" >&2; exit 1; }
    apt_updated=1
  fi
}

# Node.js may come from another packaging (nodesource bundles npm); only
# ask Debian for it when no node/npm is on the PATH.
# The portal's chart library comes from npm at build time, so every mode
# needs them.
if ! { command -v node >/dev/null && command -v npm >/dev/null; }; then
  missing+=(nodejs npm)
fi

if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing: ${missing[*]}"
  if [ "$(id -u)" -ne 0 ] && [ ${#sudo_cmd[@]} -eq 0 ]; then
    echo "setup: not root and no sudo; please install: ${missing[*]}" >&2
    exit 1
  fi
  apt_update
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || {
    echo "setup: apt-get install failed for: ${missing[*]}" >&2; exit 1; }
fi

# CivetWeb from Debian's source package, built by CMake with NO_SSL_DL.
cw="$here/third_party/civetweb"
if [ ! -f "$cw/src/civetweb.c" ]; then
  if ! grep -rqs '^Types:.*deb-src' /etc/apt/sources.list.d/ && ! grep -qs '^deb-src' /etc/apt/sources.list; then
    echo "setup: adding a deb-src entry for Debian's archive"
    src=/etc/apt/sources.list.d/provca-deb-src.sources
    if [ -f /etc/apt/sources.list.d/debian.sources ]; then
      sed 's/^Types: deb$/Types: deb-src/' /etc/apt/sources.list.d/debian.sources | "${sudo_cmd[@]}" tee "$src" >/dev/null
    else
      grep '^deb ' /etc/apt/sources.list | sed 's/^deb /deb-src /' | "${sudo_cmd[@]}" tee /etc/apt/sources.list.d/provca-deb-src.list >/dev/null
    fi
    apt_updated=0
  fi
  apt_update
  tmp=$(mktemp -d)
  # Debian's patches are applied (dpkg-source -x), so this is Debian's 1.15.
  ( cd "$tmp" && apt-get source -qq --download-only civetweb >"$tmp/log" 2>&1 \
      && dpkg-source -x civetweb_*.dsc cw >>"$tmp/log" 2>&1 ) || {
    echo "setup: could not fetch civetweb's Debian source package:" >&2
    cat "$tmp/log" >&2; rm -rf "$tmp"; exit 1; }
  mkdir -p "$here/third_party"
  rm -rf "$cw"
  mv "$tmp/cw" "$cw"
  rm -rf "$tmp"
fi

# Node.js must satisfy every engines.node the lock files pin (Debian 12's
# nodejs 18 does, for the versions pinned here). Checked before npm runs, and
# setup stops here when it is too old: "setup: ok" then never prints.
locks=("$here/web/package-lock.json")
if [ "$mode" != build ]; then locks+=("$here/tests/browser/package-lock.json"); fi
if ! out=$(node "$here/scripts/npm_check.cjs" engines "${locks[@]}" 2>&1); then
  echo "setup: Node.js $(node --version) is too old for the npm packages the lock files pin:" >&2
  echo "$out" | sed 's/^/setup:   /' >&2
  echo "setup: install a newer nodejs (Debian 12's 18.x is enough for the pinned versions), then run again" >&2
  exit 1
fi

# npm ci installs exactly what DIR/package-lock.json pins, again whenever
# node_modules holds other versions. Its warnings (EBADENGINE, ...) show.
npm_ci() {
  local dir=$1
  if node "$here/scripts/npm_check.cjs" current "$dir" 2>/dev/null; then return 0; fi
  echo "setup: npm ci in ${dir#"$here"/}"
  ( cd "$dir" && npm ci --no-audit --no-fund --engine-strict --loglevel=warn ) || {
    echo "setup: npm ci in ${dir#"$here"/} failed" >&2; exit 1; }
}

# The portal's browser files from npm (chart.js), copied into web/vendor/
# (ignored by git) where ca-server serves them; no page loads anything
# from outside the machine.
if [ -f "$here/web/package.json" ]; then
  npm_ci "$here/web"
  mkdir -p "$here/web/vendor"
  cp "$here/web/node_modules/chart.js/dist/chart.umd.js" "$here/web/vendor/chart.umd.js"
fi

# Browser-test dependency from npm (playwright-core drives Debian's chromium).
if [ "$mode" != build ] && [ -f "$here/tests/browser/package.json" ]; then
  npm_ci "$here/tests/browser"
fi
# The OpenAPI 3.1 validator tests/http/test_http_openapi.py runs (pinned by
# tests/http/openapi/package-lock.json; works on Node 18 and later).
if [ "$mode" != build ] && [ -f "$here/tests/http/openapi/package.json" ] && [ ! -d "$here/tests/http/openapi/node_modules/@seriousme" ]; then
  ( cd "$here/tests/http/openapi" && npm ci --no-audit --no-fund --silent ) || {
    echo "setup: npm ci for tests/http/openapi failed" >&2; exit 1; }
fi
echo "setup: ok"
