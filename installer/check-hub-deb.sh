#!/usr/bin/env bash
# Installs, runs, upgrades and purges the supervisor-hub .deb on this machine (CI; needs root
# or sudo). systemd does not run in CI, so the service command is run the way the unit runs
# it: as the service user, with the options file's environment, from the unit's ExecStart.
# Usage: installer/check-hub-deb.sh dist/supervisor-hub_VERSION_ARCH.deb
set -euo pipefail
deb=$1
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
unit=/lib/systemd/system/supervisor-hub.service
conf=/etc/supervisor-hub/supervisor-hub.conf
port=18765
say() { printf '== hub package: %s\n' "$*" >&2; }
fail() { echo "hub package check FAILED: $*" >&2; exit 1; }

say "install $deb"
$SUDO dpkg -i "$deb" || $SUDO apt-get install -f -y -qq --no-install-recommends
getent passwd supervisor-hub >/dev/null || fail "no system user supervisor-hub"
[ "$(stat -c %U /var/lib/supervisor-hub/hub.db)" = supervisor-hub ] ||
    fail "postinst did not create the database as the service user"
command -v supervisor-hub >/dev/null || fail "supervisor-hub is not on the PATH"
# In the package, not on disk: minimal images path-exclude /usr/share/man from dpkg.
# (The listing is read whole first: grep -q closing the pipe early fails it under pipefail.)
contents=$(dpkg-deb -c "$deb")
grep -q ' \./usr/share/man/man1/supervisor-hub\.1\.gz$' <<< "$contents" || fail "no manual page"
systemd-analyze verify "$unit" || fail "systemd-analyze verify $unit"

run_service() {
    # ExecStart with $SUPERVISOR_HUB_OPTIONS split as systemd splits an unquoted $VAR.
    local exec_start
    exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
    # shellcheck disable=SC2016 # expanded by the inner shell, from the options file
    $SUDO runuser -u supervisor-hub -- sh -c \
        "set -a; . '$conf'; set +a; cd /var/lib/supervisor-hub; exec $exec_start" \
        > /tmp/supervisor-hub-service.log 2>&1 &
    service_pid=$!
    local url=http://127.0.0.1:$port/api/v1/me code=000
    for _ in $(seq 1 100); do
        code=$(curl -s -o /dev/null -w '%{http_code}' "$url" || true)
        [ "$code" = 000 ] || break
        sleep 0.2
    done
    [ "$code" = 401 ] || { cat /tmp/supervisor-hub-service.log >&2; fail "GET /api/v1/me without a token answered $code, not 401"; }
    say "service command answers 401 without a token on $url"
    if [ -n "${1:-}" ]; then
        # A token made before the upgrade still works: the database survived it.
        code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $1" "$url")
        [ "$code" = 200 ] || fail "the token made before the upgrade answered $code, not 200"
        say "a token made before the upgrade is still accepted"
    fi
    $SUDO pkill -TERM -P "$service_pid" 2>/dev/null || true
    $SUDO kill -TERM "$service_pid" 2>/dev/null || true
    wait "$service_pid" 2>/dev/null || true
}

say "run the service command as the unit would (port $port)"
# The administrator's edit of the conffile: it must survive the upgrade.
$SUDO sed -i "s/--port [0-9]*/--port $port/" "$conf"
run_service
token=$($SUDO runuser -u supervisor-hub -- supervisor-hub token create \
    --db /var/lib/supervisor-hub/hub.db --name ci-upgrade-check --role viewer)

say "upgrade to the same build as version +ci1"
tmp=$(mktemp -d)
dpkg-deb -R "$deb" "$tmp/root"
sed -i 's/^Version: \(.*\)$/Version: \1+ci1/' "$tmp/root/DEBIAN/control"
dpkg-deb --root-owner-group -Znone --build "$tmp/root" "$tmp/upgrade.deb" >/dev/null
$SUDO dpkg -i "$tmp/upgrade.deb"
rm -rf "$tmp"
grep -q -- "--port $port" "$conf" || fail "the upgrade replaced the edited $conf"
run_service "$token"

say "remove keeps data and configuration; purge deletes them and the user"
$SUDO dpkg -r supervisor-hub
[ -f /var/lib/supervisor-hub/hub.db ] || fail "remove deleted the database"
[ -f "$conf" ] || fail "remove deleted the configuration"
$SUDO dpkg -P supervisor-hub
[ ! -e /var/lib/supervisor-hub ] || fail "purge left /var/lib/supervisor-hub"
[ ! -e /etc/supervisor-hub ] || fail "purge left /etc/supervisor-hub"
! getent passwd supervisor-hub >/dev/null || fail "purge left the user supervisor-hub"
! command -v supervisor-hub >/dev/null || fail "purge left supervisor-hub on the PATH"
say "install, run, upgrade, remove and purge: ok"
