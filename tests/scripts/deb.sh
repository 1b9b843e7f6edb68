#!/usr/bin/env bash
# The Debian package: builds it (packaging/build-deb.sh: cargo-deb over the
# release build .ci/run already made), installs it with dpkg -i, checks the
# files are where a Debian user looks (man -w, completions, units, conffile),
# verifies the units with systemd-analyze, runs the installed binary the way
# ferry.service does (its ExecStartPre and ExecStart, on a socket passed as
# systemd passes it, as an unprivileged user), then dpkg -r (the conffile
# stays) and dpkg --purge (nothing stays). Installs system-wide: needs root.
source "$(dirname "$0")/../lib/common.sh"
need dpkg
need curl
need python3 python3
need setpriv util-linux
need man man-db
need systemd-analyze systemd
if [ "$(id -u)" != 0 ]; then
  echo "deb.sh installs a package: run it as root" >&2
  [ "${CI:-}" = true ] && exit 1
  exit 0
fi
t0=$SECONDS

# cargo-deb, pinned, kept in $CARGO_HOME/bin between runs.
CARGO_HOME="${CARGO_HOME:-$HOME/.cargo}"
export PATH="$CARGO_HOME/bin:$PATH"
CARGO_DEB_VERSION=3.8.0
if ! cargo-deb --version 2>/dev/null | grep -q " $CARGO_DEB_VERSION\$"; then
  echo "installing cargo-deb $CARGO_DEB_VERSION (once; kept in $CARGO_HOME/bin)"
  cargo install -q cargo-deb --version "$CARGO_DEB_VERSION" --locked
fi
t1=$SECONDS

WORK=$(mktemp -d)
POLICY_ADDED=
# Whatever happens, the machine is left without the package (and policy).
trap 'cleanup; rm -rf "$WORK"; [ -z "$POLICY_ADDED" ] || rm -f /usr/sbin/policy-rc.d
  ! dpkg -s ferry >/dev/null 2>&1 || dpkg --purge ferry >/dev/null 2>&1 || true' EXIT
# On a machine where systemd runs, dpkg would start the service on port 80:
# keep it from starting anything (as Docker's policy-rc.d does), unless a policy exists.
if [ -d /run/systemd/system ] && [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d
  POLICY_ADDED=1
fi

# A ferry left installed by an earlier run is purged first.
dpkg -s ferry >/dev/null 2>&1 && dpkg --purge ferry >/dev/null
INDEX_WAS_THERE=
[ -e /var/www/html/index.html ] && INDEX_WAS_THERE=1

DEB=$(bash "$ROOT/packaging/build-deb.sh" 2>"$WORK/build.log" | tail -1) || {
  cat "$WORK/build.log" >&2
  echo "FAIL - packaging/build-deb.sh"
  exit 1
}
check "the package is built ($(basename "$DEB"), $(du -k "$DEB" | cut -f1) KiB)" [ -f "$DEB" ]
t2=$SECONDS

check "dpkg -i installs it" dpkg -i "$DEB"
check "installed: dpkg -s says so" sh -c 'dpkg -s ferry | grep -q "^Status: install ok installed"'
check "/usr/bin/ferry is on PATH" [ "$(command -v ferry)" = /usr/bin/ferry ]
version=$(ferry --version)
echo "  $version"
check "ferry --version names the version, commit and features" \
  grep -Eq "^ferry [0-9]+\.[0-9]+\.[0-9]+ \(commit ([0-9a-f]{12}|unknown), features: .*ferry/fs" <<<"$version"

# Where a Debian user looks.
check "man -w ferry finds the page" [ "$(man -w ferry)" = /usr/share/man/man1/ferry.1.gz ]
check "man -w ferry-serve finds the subcommand's page" [ "$(man -w ferry-serve)" = /usr/share/man/man1/ferry-serve.1.gz ]
LANG=C MANWIDTH=300 man -P cat ferry-serve >"$WORK/serve.man" 2>/dev/null
LANG=C MANWIDTH=300 man -P cat ferry-proxy >"$WORK/proxy.man" 2>/dev/null
# Every long flag of --help in the page and the completions (generated from the same definitions).
flags_in() { grep -oE -- '--[a-z0-9][a-z0-9-]+' | sort -u; }
missing_from() { # missing_from FILE CMD...: flags of CMD's --help that FILE does not name
  # (visible aliases, `[alias: --check]`, aside: clap_mangen does not print them)
  local file=$1; shift
  "$@" --help | grep -oE '\[alias(es)?: [^]]*\]' | flags_in >"$WORK/aliases" || true
  "$@" --help | flags_in | grep -vxF -f "$WORK/aliases" |
    while read -r f; do grep -qF -- "$f" "$file" || echo "$f"; done
}
for sub in serve proxy; do
  m=$(missing_from "$WORK/$sub.man" ferry "$sub")
  check "man ferry-$sub names every flag of ferry $sub --help${m:+ (missing: $m)}" [ -z "$m" ]
done
BASH_COMP=/usr/share/bash-completion/completions/ferry
ZSH_COMP=/usr/share/zsh/vendor-completions/_ferry
FISH_COMP=/usr/share/fish/vendor_completions.d/ferry.fish
for f in "$BASH_COMP" "$ZSH_COMP" "$FISH_COMP"; do
  check "completion file $f" [ -s "$f" ]
done
m=$(missing_from "$BASH_COMP" ferry serve)
check "bash completion offers every flag of ferry serve --help${m:+ (missing: $m)}" [ -z "$m" ]
check "bash completion loads and registers ferry" \
  bash -c "source $BASH_COMP && complete -p ferry >/dev/null"
check "fish completion names serve's --listen" grep -q -- "-l listen" "$FISH_COMP"
check "zsh completion is a compdef for ferry" grep -q "^#compdef ferry" "$ZSH_COMP"
check "unit /usr/lib/systemd/system/ferry.service" [ -s /usr/lib/systemd/system/ferry.service ]
check "unit /usr/lib/systemd/system/ferry.socket" [ -s /usr/lib/systemd/system/ferry.socket ]
check "/etc/ferry/ferry.toml is a conffile" \
  sh -c "dpkg-query -W -f='\${Conffiles}' ferry | grep -q '^ /etc/ferry/ferry.toml '"
check "the conffile serves /var/www/html on port 80" \
  sh -c 'grep -qx "root = \"/var/www/html\"" /etc/ferry/ferry.toml && grep -q "^ListenStream=80$" /usr/lib/systemd/system/ferry.socket'
check "copyright lists the linked crates' licenses" \
  sh -c 'grep -q "^ *tokio [0-9.]* " /usr/share/doc/ferry/copyright && grep -q "Apache License" /usr/share/doc/ferry/copyright'
check "the default root has a page" [ -s /var/www/html/index.html ]

# The units, as systemd reads them.
if systemd-analyze verify /usr/lib/systemd/system/ferry.socket /usr/lib/systemd/system/ferry.service \
  >"$WORK/verify.log" 2>&1; then
  ok "systemd-analyze verify ferry.socket ferry.service"
else
  cat "$WORK/verify.log"
  fail "systemd-analyze verify ferry.socket ferry.service"
fi
for key in "DynamicUser=yes" "ProtectSystem=strict" "ProtectHome=yes" "PrivateTmp=yes" \
  "NoNewPrivileges=yes" "CapabilityBoundingSet=CAP_NET_BIND_SERVICE" "ReadOnlyPaths=-/var/www" \
  "ExecReload=/bin/kill -HUP \$MAINPID"; do
  check "ferry.service has $key" grep -qxF "$key" /usr/lib/systemd/system/ferry.service
done
# The exposure score systemd computes from the unit (0 safest .. 10); offline,
# as no systemd runs here. Under 2.5 is what systemd calls "OK".
if systemd-analyze security --offline=true /usr/lib/systemd/system/ferry.service >"$WORK/security.log" 2>&1 ||
  grep -q "Overall exposure level" "$WORK/security.log"; then
  score=$(grep -oE 'Overall exposure level for ferry.service: [0-9.]+' "$WORK/security.log" | grep -oE '[0-9.]+$')
  check "systemd-analyze security: exposure ${score:-?} < 2.5" below "${score:-99}" 2.5
else
  tail -3 "$WORK/security.log"
  echo "  (systemd-analyze security --offline cannot run here; skipped)"
fi

# Run it the way ferry.service does: its ExecStartPre, then its ExecStart on a
# listening socket passed as fd 3 (LISTEN_FDS, what ferry.socket hands it),
# as an unprivileged user (nobody, for the unit's DynamicUser) with only
# CAP_NET_BIND_SERVICE in its bounding set and no new privileges.
pre=$(sed -n 's/^ExecStartPre=//p' /usr/lib/systemd/system/ferry.service)
start=$(sed -n 's/^ExecStart=//p' /usr/lib/systemd/system/ferry.service)
AS_UNIT=(setpriv --reuid=nobody --regid=nogroup --clear-groups --no-new-privs
  --bounding-set=-all,+net_bind_service --)
read -ra pre_argv <<<"$pre"
check "ExecStartPre ($pre) passes as nobody" "${AS_UNIT[@]}" "${pre_argv[@]}"
read -ra start_argv <<<"$start"
"$(command -v python3)" - "$WORK/port" "${AS_UNIT[@]}" "${start_argv[@]}" <<'PY' 2>"$WORK/ferry.log" &
import os, socket, sys
portfile, argv = sys.argv[1], sys.argv[2:]
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(128)
if s.fileno() != 3:
    os.dup2(s.fileno(), 3)
os.set_inheritable(3, True)
open(portfile, "w").write(str(s.getsockname()[1]))
# setpriv execs ferry in this same process, so LISTEN_PID stays right.
os.execve(argv[0] if "/" in argv[0] else "/usr/bin/" + argv[0], argv,
          dict(os.environ, LISTEN_FDS="1", LISTEN_PID=str(os.getpid())))
PY
FERRY_PID=$!
PIDS+=("$FERRY_PID")
for _ in $(seq 100); do [ -s "$WORK/port" ] && break; sleep 0.05; done
URL="http://127.0.0.1:$(cat "$WORK/port")/"
body=$(curl -s --retry 20 --retry-connrefused --retry-delay 0 -o "$WORK/page" -w '%{http_code}' "$URL")
check "the installed ferry serves /var/www/html on the passed socket ($URL: $body)" [ "$body" = 200 ]
if [ -z "$INDEX_WAS_THERE" ]; then
  check "the page is the package's default page" grep -q "ferry is serving" "$WORK/page"
fi
check "it runs as nobody" [ "$(ps -o user= -p "$FERRY_PID")" = nobody ]
check "the access log goes to stderr (the journal under systemd)" grep -q '"GET /' "$WORK/ferry.log"
kill -HUP "$FERRY_PID" # ExecReload
sleep 0.3
check "after ExecReload's SIGHUP it still serves" \
  [ "$(curl -s -o /dev/null -w '%{http_code}' "$URL")" = 200 ]
check "the reload refused nothing" bash -c "! grep -q 'not reloaded' '$WORK/ferry.log'"
kill -TERM "$FERRY_PID"
status=0
wait "$FERRY_PID" 2>/dev/null || status=$?
check "SIGTERM (systemctl stop) ends it with status 0 ($status)" [ "$status" = 0 ]
PIDS=()

# Remove: everything but the conffile goes; purge: that too.
check "dpkg -r removes it" dpkg -r ferry
check "after dpkg -r: the conffile stays" [ -f /etc/ferry/ferry.toml ]
check "after dpkg -r: dpkg -s says config-files" \
  sh -c 'dpkg -s ferry | grep -q "^Status: deinstall ok config-files"'
leftovers() {
  find /usr/bin /usr/share/man /usr/share/bash-completion /usr/share/zsh /usr/share/fish \
    /usr/share/doc /usr/share/ferry /usr/lib/systemd /etc/systemd /etc/ferry /var/lib/systemd \
    -name '*ferry*' 2>/dev/null | grep -v '^/etc/ferry/ferry.toml$' || true
  [ -n "$INDEX_WAS_THERE" ] || ls -d /var/www/html/index.html 2>/dev/null || true
}
# Kept until purge, as for every package with units: the enablement links and
# the masks deb-systemd-helper puts on removed units.
left=$(leftovers | grep -v -e '^/etc/ferry$' -e '^/etc/systemd/system/' -e '^/var/lib/systemd/deb-systemd-helper-' || true)
check "after dpkg -r: nothing else is left${left:+ ($left)}" [ -z "$left" ]
check "dpkg --purge purges it" dpkg --purge ferry
check "after purge: dpkg knows no ferry" bash -c '! dpkg -s ferry >/dev/null 2>&1'
left=$(leftovers)
check "after purge: nothing is left${left:+ ($left)}" [ -z "$left" ]

echo "deb.sh: cargo-deb $((t1 - t0)) s, package $((t2 - t1)) s, install/run/remove $((SECONDS - t2)) s"
finish
