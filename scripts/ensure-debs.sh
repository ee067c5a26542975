#!/bin/sh
# Install Debian packages whose command is missing: ensure-debs.sh COMMAND:PACKAGE [...]
# Idempotent (nothing happens when every command is on PATH); needs root or sudo to install.
# APT_NO_RECOMMENDS=1: only the packages' hard dependencies (the `prometheus` package, installed for its
# promtool, would otherwise recommend exporters with daemons of their own). Its postinst does not start
# a daemon in a container: invoke-rc.d finds no runlevel (or policy-rc.d denies it) and carries on.
set -eu
missing=""
for pair in "$@"; do
    cmd=${pair%%:*}
    pkg=${pair#*:}
    command -v "$cmd" >/dev/null 2>&1 || missing="$missing $pkg"
done
[ -z "$missing" ] && exit 0
SUDO=""
if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
fi
echo "installing Debian packages:$missing" >&2
$SUDO apt-get update -qq
NORECS=""
[ "${APT_NO_RECOMMENDS:-}" = "1" ] && NORECS="--no-install-recommends"
# shellcheck disable=SC2086 # word splitting of the package list is intended
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $NORECS $missing >/dev/null
