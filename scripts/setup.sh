#!/usr/bin/env bash
# Set up Plico on a fresh Debian machine: system packages, a virtualenv in .venv, the project.
# Idempotent: installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  tesseract-ocr tesseract-ocr-ita tesseract-ocr-eng  # machine print
  libzbar0                                           # pyzbar's library
  witalian                                           # Italian words for free text
  fonts-dejavu-core fonts-dejavu-extra fonts-liberation2 fonts-noto-mono fonts-ocr-b  # generator text, MRZ
  chromium chromium-driver                           # the web app's end-to-end tests
)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

PYTHON="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[test,train]"
.venv/bin/plico --version
