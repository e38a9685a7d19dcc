#!/usr/bin/env bash
# Installs the Debian packages cuulong needs (GDAL, PROJ, PostgreSQL + PostGIS, mosquitto for
# MQTT observations, clang for bindgen, nginx for the replica set)
# when they are missing. Idempotent: does nothing when everything is there.
set -euo pipefail

packages=(libgdal-dev gdal-bin libproj-dev proj-bin proj-data postgresql postgresql-15-postgis-3
          clang libclang-dev pkg-config libsqlite3-dev python3-gdal mosquitto nginx-light)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "cuulong: installing Debian packages: ${missing[*]}" >&2
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if ! command -v cargo >/dev/null 2>&1; then
  echo "cuulong: cargo not found; install Rust (https://rustup.rs) and run again" >&2
  exit 1
fi
