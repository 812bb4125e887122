#!/usr/bin/env bash
# Installs the Debian packages the tests need, only those missing, so that
# `make test` works on a fresh machine (Debian, root, packages reachable).
# Preinstalled on this kind of machine and not handled here: Go, kubectl,
# cfn-lint and moto_server. jq also serves `make lint`.
set -euo pipefail

need=()
command -v promtool >/dev/null || need+=(prometheus)
command -v prometheus >/dev/null || need+=(prometheus)
command -v amtool >/dev/null || need+=(prometheus-alertmanager)
command -v prometheus-alertmanager >/dev/null || need+=(prometheus-alertmanager)
command -v jq >/dev/null || need+=(jq)
command -v curl >/dev/null || need+=(curl)

if [ ${#need[@]} -gt 0 ]; then
  pkgs=$(printf '%s\n' "${need[@]}" | sort -u | tr '\n' ' ')
  echo "installing: $pkgs"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $pkgs
fi
