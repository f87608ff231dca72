#!/usr/bin/env bash
# Screenshots of the desktop app as a user sees it, into docs/screenshots/ (or $OUT).
#
#   scripts/screenshots.sh 1280x720 1    light
#   scripts/screenshots.sh 1366x768 1.25 dark
#
# Starts Xvfb at the given size with openbox (window manager), trayer (tray host) and a
# private D-Bus with dunst (notifications), runs the demo hub in a throw-away profile
# (SUPERVISOR_DESK_HOME) with the theme preference set, drives it with xdotool and saves
# `import -window root` PNGs named <screen>-<size>[-125]-<theme>.png:
#   live (a session selected: chat + results dock), live-logs (the same with the logs drawer
#   open), history (a session selected), analytics, analytics-2, analytics-3 (the page
#   scrolled: every chart and the operators' workload), alerts (View → Alerts, the panel),
#   wall (Window → Wall, 3x3), signin (the sign-in dialog of a profile with no server).
# Page buttons are clicked at positions measured for the two sizes above (see the case below);
# another size needs its own positions. README's docs/screenshots/live.png is a copy of
# live-1280x720-light.png.
set -euo pipefail
SIZE=${1:-1280x720}; SCALE=${2:-1}; THEME=${3:-light}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${OUT:-$ROOT/docs/screenshots}
TAG=$SIZE; [ "$SCALE" != 1 ] && TAG="$SIZE-$(awk "BEGIN{print $SCALE*100}")"
DISPLAY_NUM=${DISPLAY_NUM:-$((90 + RANDOM % 100))}
WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; sleep 1; rm -rf "$WORK"; }
trap cleanup EXIT

export DISPLAY=:$DISPLAY_NUM
Xvfb "$DISPLAY" -screen 0 "${SIZE}x24" -nolisten tcp >/dev/null 2>&1 & PIDS+=($!)
for _ in $(seq 50); do xdpyinfo >/dev/null 2>&1 && break; sleep 0.1; done
eval "$(dbus-launch --sh-syntax)"; PIDS+=("$DBUS_SESSION_BUS_PID")
openbox >/dev/null 2>&1 & PIDS+=($!)
trayer --edge bottom --align right --widthtype pixel --width 80 --height 24 >/dev/null 2>&1 & PIDS+=($!)
# Notifications top centre (GNOME's place), briefly: part of the desktop, over the header's
# empty middle (the app's own banners float at the bottom left).
printf '[global]\norigin = top-center\noffset = 0x30\n[urgency_low]\ntimeout = 2\n[urgency_normal]\ntimeout = 2\n[urgency_critical]\ntimeout = 2\n' >"$WORK/dunstrc"
dunst -config "$WORK/dunstrc" >/dev/null 2>&1 & PIDS+=($!)

export QT_SCALE_FACTOR=$SCALE
W=${SIZE%x*}; H=${SIZE#*x}
# Where the page buttons and a session row are, in screen pixels, for the sizes documented
# above. Positions do not just scale: at 125 % the header drops its "Sessions" title on the
# Live page (its toolbar needs the room) and shows it on History and Analytics; the order
# below is Live → History → Analytics → Live.
case "$SIZE@$SCALE" in
    1366x768@1.25) HISTORY=(136 56); ANALYTICS=(400 56); LIVE=(212 56); ROW=(250 310)
                   ANALYTICS_PAGE_DOWN=(712 640) ;;
    *)             HISTORY=(237 45); ANALYTICS=(320 45); LIVE=(170 45); ROW=(200 250)
                   ANALYTICS_PAGE_DOWN=(697 620) ;;
esac
shot() { sleep "${2:-1.5}"; import -window root "$OUT/$1-$TAG-$THEME.png"; echo "$OUT/$1-$TAG-$THEME.png"; }
click_at() { xdotool mousemove "$1" "$2" click 1; }

start_app() {  # $1 = profile dir, rest = arguments
    local home=$1; shift
    mkdir -p "$home/config"
    printf '{"theme": "%s"}\n' "$THEME" >"$home/config/preferences.json"
    SUPERVISOR_DESK_HOME=$home "$ROOT/.venv/bin/supervisor-desk" "$@" >"$home/app.log" 2>&1 &
    APP=$!; PIDS+=("$APP")
}
fill_screen() {  # the whole screen above trayer's strip
    local win; win=$(xdotool search --sync --onlyvisible --name "$1" | head -1)
    xdotool windowactivate --sync "$win" 2>/dev/null || true
    xdotool windowsize --sync "$win" "$W" $((H - 24)) windowmove --sync "$win" 0 0 || true
}

mkdir -p "$OUT"
# --- the demo hub, signed in
start_app "$WORK/demo" --demo
fill_screen "Supervisor Desk"
sleep 8                                  # demo traffic fills the live table
click_at "${ROW[@]}"                     # a session row
sleep 2
xdotool key ctrl+l                       # the logs drawer under the chat
shot live-logs
xdotool key ctrl+l; shot live
click_at "${HISTORY[@]}"; sleep 3         # History page
click_at "${ROW[@]}"; shot history 3      # a session selected
click_at "${ANALYTICS[@]}"; shot analytics 4  # Analytics page
click_at "${ANALYTICS_PAGE_DOWN[@]}"; shot analytics-2   # its next charts (the scroll bar's
click_at "${ANALYTICS_PAGE_DOWN[@]}"; shot analytics-3   # trough pages down), to the workload
click_at "${LIVE[@]}"                    # back to Live
xdotool key alt+v; sleep 0.5; xdotool key Up Return   # View → Alerts (the menu's last item)
shot alerts 3
xdotool key ctrl+shift+w                 # Window → Wall: the longest-waiting nine, 3x3
fill_screen "Wall"
shot wall 4
kill "$APP"; wait "$APP" 2>/dev/null || true
# --- a profile with no server: the sign-in dialog
start_app "$WORK/fresh"
xdotool search --sync --onlyvisible --name "Sign in" >/dev/null || true
shot signin 3
