#!/usr/bin/env bash
# Provides the etcd server and etcdctl that the tests, demos and benchmarks run.
#
#   bash scripts/install-etcd.sh       any etcd >= 3.4: $ETCD_BIN, else `etcd` on PATH, else Debian's
#                                      `etcd-server` package installed with apt (when root). Likewise
#                                      etcdctl: $ETCDCTL_BIN, else on PATH, else Debian's `etcd-client`.
#   bash scripts/install-etcd.sh 3.4   the same, and fails unless that server is 3.4.x (Debian
#                                      bookworm's package is 3.4.23).
#   bash scripts/install-etcd.sh 3.5   an etcd 3.5.x server and its etcdctl from Debian's trixie suite,
#                                      unpacked into .etcd-cache/3.5/ ($ETCD_CACHE_DIR/3.5/ when set);
#                                      installs nothing system-wide and ignores $ETCD_BIN. Delete that
#                                      folder to fetch again.
#
# Prints the server's and etcdctl's versions, then the server's path on the LAST line of stdout
# (apt's output goes to stderr), so that:  ETCD_BIN=$(bash scripts/install-etcd.sh 3.5 | tail -1)
# The test harness takes the etcdctl beside $ETCD_BIN (see test/support/etcd-binary.ts).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)

# Prints the first line of `<binary> <args>`. Not `| head -1`: head exits early, etcd then dies
# of SIGPIPE and pipefail fails the script at random.
first_line() {
  local out
  out=$("$@")
  echo "${out%%$'\n'*}"
}

# "3.4" from "etcd Version: 3.4.23".
minor_version() {
  local line
  line=$(first_line "$1" --version)
  line=${line##*: }
  echo "${line%.*}"
}

fail() {
  echo "install-etcd.sh: $*" >&2
  exit 1
}

can_apt_install() {
  [[ -r /etc/debian_version ]] && [[ "$(id -u)" == "0" ]] && command -v apt-get >/dev/null 2>&1
}

# --- the default server: whatever is configured or on PATH, else the distribution's package ---

provide_default() {
  local server="" client="" packages=()
  if [[ -n "${ETCD_BIN:-}" ]]; then
    [[ -x "$ETCD_BIN" ]] || fail "ETCD_BIN=$ETCD_BIN is not an executable file"
    server=$ETCD_BIN
  elif command -v etcd >/dev/null 2>&1; then
    server=$(command -v etcd)
  else
    packages+=(etcd-server)
  fi
  if [[ -n "${ETCDCTL_BIN:-}" ]]; then
    [[ -x "$ETCDCTL_BIN" ]] || fail "ETCDCTL_BIN=$ETCDCTL_BIN is not an executable file"
    client=$ETCDCTL_BIN
  elif [[ -n "$server" && -x "$(dirname "$server")/etcdctl" ]]; then
    client="$(dirname "$server")/etcdctl"
  elif command -v etcdctl >/dev/null 2>&1; then
    client=$(command -v etcdctl)
  else
    packages+=(etcd-client)
  fi
  if ((${#packages[@]} > 0)); then
    if ! can_apt_install; then
      cat >&2 <<'MSG'
etcd (server and etcdctl, 3.4 or newer) is required but was not found.
Install it with one of:
  Debian/Ubuntu:  sudo apt-get install -y etcd-server etcd-client
  macOS:          brew install etcd
  any platform:   download a release from the etcd project and set ETCD_BIN=/path/to/etcd
                  (etcdctl is taken from the same folder, or set ETCDCTL_BIN)
MSG
      exit 1
    fi
    echo "installing Debian package(s) ${packages[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq "${packages[@]}" >&2
    # The server package enables a system service; concord's tests and demos start their own members.
    if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet etcd 2>/dev/null; then
      systemctl stop etcd || true
    fi
    [[ -n "$server" ]] || server=$(command -v etcd)
    [[ -n "$client" ]] || client=$(command -v etcdctl)
  fi
  report "$server" "$client"
}

# --- etcd 3.5 from Debian trixie, unpacked into a cache folder ---

# Writes an apt sources file for `trixie main` built from the entry of this machine's apt
# configuration that serves its own release (suite = $1), so the same mirror and keyring are used.
# deb822 stanzas are copied whole (URIs, Signed-By, proxies' options...) with Types, Suites and
# Components replaced; one-line entries keep their [options] and URI. Prints the file's path.
write_trixie_sources() {
  local codename=$1 dir=$2 f
  for f in /etc/apt/sources.list.d/*.sources; do
    [[ -r "$f" ]] || continue
    awk -v want="$codename" '
      function flush(   i) {
        if (n > 0 && !done && enabled && (" " types " ") ~ / deb / && (" " suites " ") ~ (" " want " ")) {
          for (i = 1; i <= n; i++) print kept[i]
          print "Types: deb"; print "Suites: trixie"; print "Components: main"
          done = 1
        }
        n = 0; types = ""; suites = ""; enabled = 1; field = ""
      }
      BEGIN { enabled = 1 }
      /^[ \t]*#/ { next }
      /^[ \t]*$/ { flush(); next }
      /^[ \t]/ {
        if (field == "types") types = types " " $0
        else if (field == "suites") suites = suites " " $0
        else if (field != "components" && field != "enabled") kept[++n] = $0
        next
      }
      {
        field = tolower(substr($0, 1, index($0, ":") - 1))
        value = substr($0, index($0, ":") + 1)
        if (field == "types") types = value
        else if (field == "suites") suites = value
        else if (field == "enabled") enabled = (value !~ /[Nn]o/)
        else if (field != "components") kept[++n] = $0
      }
      END { flush() }
    ' "$f" >"$dir/trixie.sources"
    if [[ -s "$dir/trixie.sources" ]]; then
      echo "$dir/trixie.sources"
      return
    fi
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [[ -r "$f" ]] || continue
    awk -v want="$codename" '
      $1 != "deb" { next }
      {
        i = 2; opts = ""
        if ($2 ~ /^\[/) { while (i <= NF) { opts = opts " " $i; if ($i ~ /\]$/) break; i++ }; i++ }
        if ($(i + 1) == want) { print "deb" opts " " $i " trixie main"; exit }
      }
    ' "$f" >"$dir/trixie.list"
    if [[ -s "$dir/trixie.list" ]]; then
      echo "$dir/trixie.list"
      return
    fi
  done
  return 1
}

provide_35() {
  local cache="${ETCD_CACHE_DIR:-$root/.etcd-cache}/3.5"
  local server="$cache/usr/bin/etcd" client="$cache/usr/bin/etcdctl"
  if [[ -x "$server" && -x "$client" ]] && [[ "$(minor_version "$server")" == "3.5" ]]; then
    report "$server" "$client"
    return
  fi
  if ! command -v apt-get >/dev/null 2>&1 || ! command -v dpkg >/dev/null 2>&1; then
    fail "etcd 3.5 is fetched from Debian's archive with apt-get and dpkg, which this machine lacks; set ETCD_BIN to an etcd 3.5 binary instead"
  fi
  local id="" codename=""
  # shellcheck disable=SC1091
  [[ -r /etc/os-release ]] && { id=$(. /etc/os-release && echo "${ID:-}"); codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}"); }
  [[ "$id" == "debian" && -n "$codename" ]] ||
    fail "etcd 3.5 is fetched from Debian's trixie suite, which needs a Debian apt mirror (this is ${id:-an unknown system}); set ETCD_BIN to an etcd 3.5 binary instead"

  local tmp
  tmp=$(mktemp -d)
  # shellcheck disable=SC2064
  trap "rm -rf '$tmp'" EXIT
  mkdir -p "$tmp/parts" "$tmp/prefs" "$tmp/lists/partial" "$tmp/cache/archives/partial" "$tmp/debs"
  write_trixie_sources "$codename" "$tmp/parts" >/dev/null ||
    fail "no apt entry for suite '$codename' in /etc/apt/sources.list or /etc/apt/sources.list.d/, so no Debian mirror to fetch trixie's etcd-server from; set ETCD_BIN to an etcd 3.5 binary instead"
  # apt drops to the _apt user to download; let it write where the .debs go.
  if [[ "$(id -u)" == "0" ]] && id _apt >/dev/null 2>&1; then
    chmod 755 "$tmp"
    chown _apt "$tmp/debs"
  fi
  # Private lists, caches, status and pins: the system's apt state is neither read nor changed
  # (apt.conf.d still applies, e.g. a proxy). Signatures are checked as for any apt source, with
  # the entry's Signed-By keyring: bookworm's debian-archive-keyring (2023.3+deb12u1 and later)
  # holds trixie's keys. Any failed download or signature check is an error.
  local apt=(apt-get -q
    -o "Dir::Etc::SourceList=/dev/null" -o "Dir::Etc::SourceParts=$tmp/parts"
    -o "Dir::Etc::Preferences=/dev/null" -o "Dir::Etc::PreferencesParts=$tmp/prefs"
    -o "Dir::State::Lists=$tmp/lists" -o "Dir::Cache=$tmp/cache" -o "Dir::State::status=/dev/null"
    -o "Acquire::Languages=none" -o "APT::Update::Error-Mode=any")
  echo "fetching etcd-server and etcd-client from Debian trixie (sources: $(grep -hiE '^(URIs:|deb )' "$tmp/parts"/*))" >&2
  "${apt[@]}" update >&2 ||
    fail "apt-get update of trixie failed (a NO_PUBKEY error means the keyring lacks trixie's keys: upgrade debian-archive-keyring)"
  (cd "$tmp/debs" && "${apt[@]}" download etcd-server etcd-client >&2)

  rm -rf "$cache.partial"
  mkdir -p "$cache.partial"
  local deb
  for deb in "$tmp/debs"/*.deb; do dpkg -x "$deb" "$cache.partial"; done
  [[ "$(minor_version "$cache.partial/usr/bin/etcd")" == "3.5" ]] ||
    fail "trixie's etcd-server is not 3.5.x: $(first_line "$cache.partial/usr/bin/etcd" --version)"
  rm -rf "$cache"
  mv "$cache.partial" "$cache"
  report "$server" "$client"
}

report() {
  first_line "$1" --version
  first_line "$2" version
  echo "$1"
}

case "${1:-}" in
  "") provide_default ;;
  3.4)
    out=$(provide_default)
    server=${out##*$'\n'}
    [[ "$(minor_version "$server")" == "3.4" ]] ||
      fail "$server is not etcd 3.4.x ($(first_line "$server" --version)); Debian bookworm's etcd-server is 3.4, elsewhere set ETCD_BIN to a 3.4 binary"
    echo "$out"
    ;;
  3.5) provide_35 ;;
  *) fail "usage: bash scripts/install-etcd.sh [3.4|3.5]" ;;
esac
