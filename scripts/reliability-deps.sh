#!/usr/bin/env bash
# Installs what make load and make reliability need beyond Go: Debian's wrk
# (load generator) and haproxy (rolling-restart rehearsal). moto_server and
# kubectl are preinstalled on CI machines of this kind (shared/TOOLS.md).
# Installs only what is missing; needs root (or sudo) for apt-get.
set -euo pipefail

missing=()
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
command -v haproxy >/dev/null 2>&1 || missing+=(haproxy)
if [ ${#missing[@]} -eq 0 ]; then
	exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
	sudo="sudo"
fi
echo "installing: ${missing[*]}"
$sudo apt-get update -qq
$sudo apt-get install -y --no-install-recommends "${missing[@]}"
