#!/bin/sh
# Install kubectl (Debian's `kubectl` package, which carries kustomize) when it is missing.
# Idempotent: does nothing when kubectl is already on PATH. Needs root (or sudo) to install.
set -eu
if command -v kubectl >/dev/null 2>&1; then
    exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
fi
echo "kubectl not found: installing the Debian package kubectl" >&2
$SUDO apt-get update
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y kubectl
kubectl version --client >/dev/null
