#!/usr/bin/env bash
# Installs the test data that ships as Debian packages: the full Fashion-MNIST (`dataset-fashion-mnist`, IDX files
# under /usr/share/datasets/fashion-mnist). Needs root or sudo on Debian/Ubuntu; does nothing if already there.
set -euo pipefail
if [ -d /usr/share/datasets/fashion-mnist ]; then
  exit 0
fi
if ! command -v apt-get >/dev/null; then
  echo "tests/install_test_data.sh: no apt-get here; install Debian's dataset-fashion-mnist (or copy its" \
       "/usr/share/datasets/fashion-mnist) by hand" >&2
  exit 2
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq dataset-fashion-mnist
