#!/usr/bin/env bash
# Makes sure an `etcd` server binary (3.4 or newer) is available.
# Order: $ETCD_BIN, then `etcd` on PATH, then Debian/Ubuntu's `etcd-server` package when running as root.
set -euo pipefail

# Prints the first line of `<binary> --version`. Not `| head -1`: head exits early, etcd then
# dies of SIGPIPE and pipefail fails the script at random.
first_version_line() {
  local out
  out=$("$1" --version)
  echo "${out%%$'\n'*}"
}

if [[ -n "${ETCD_BIN:-}" ]]; then
  if [[ -x "$ETCD_BIN" ]]; then first_version_line "$ETCD_BIN"; exit 0; fi
  echo "ETCD_BIN=$ETCD_BIN is not an executable file" >&2
  exit 1
fi
if command -v etcd >/dev/null 2>&1; then
  first_version_line etcd
  exit 0
fi
if [[ -r /etc/debian_version ]] && [[ "$(id -u)" == "0" ]] && command -v apt-get >/dev/null 2>&1; then
  echo "etcd not found: installing Debian package etcd-server" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq etcd-server >/dev/null
  # The package enables a system service; concord's tests and demos start their own members instead.
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet etcd 2>/dev/null; then
    systemctl stop etcd || true
  fi
  first_version_line etcd
  exit 0
fi
cat >&2 <<'MSG'
etcd (server, 3.4 or newer) is required but was not found.
Install it with one of:
  Debian/Ubuntu:  sudo apt-get install -y etcd-server
  macOS:          brew install etcd
  any platform:   download a release from the etcd project and set ETCD_BIN=/path/to/etcd
MSG
exit 1
