#!/usr/bin/env bash
# Removes the SMS-banking appliance:  sudo ./uninstall.sh [--purge]
#
# Stops and disables the service and the backup timer, removes the program
# (/opt/appliance), the systemd units, the udev rule and the /usr/local/bin link.
# Keeps the data (/var/lib/appliance: database and backups), the configuration and
# credentials (/etc/appliance) and the `appliance` user, so that a reinstall carries on
# where it stopped.
#
# Options:
#   --purge           also delete /var/lib/appliance, /etc/appliance and the user:
#                     the database, its backups, the bank token and SIM PINs are gone
#   --prefix DIR      where the program was installed (default /opt/appliance)
#   --no-systemctl    do not run systemctl/udevadm
# DESTDIR=/some/root works on a staged root (tests), as install.sh does.
set -euo pipefail

PREFIX=/opt/appliance
PURGE=0
DO_SYSTEMCTL=1
DESTDIR="${DESTDIR:-}"
APP_USER=appliance

while [ $# -gt 0 ]; do
  case "$1" in
    --purge) PURGE=1; shift ;;
    --prefix) PREFIX="${2:?--prefix needs a directory}"; shift 2 ;;
    --prefix=*) PREFIX="${1#*=}"; shift ;;
    --no-systemctl) DO_SYSTEMCTL=0; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "uninstall.sh: unknown option $1 (try --help)" >&2; exit 2 ;;
  esac
done
case "$PREFIX" in
  /?*) ;;
  *) echo "uninstall.sh: --prefix must be an absolute path other than /, got $PREFIX" >&2; exit 2 ;;
esac
PREFIX="${PREFIX%/}"

if [ -n "$DESTDIR" ]; then
  DESTDIR="$(cd "$DESTDIR" && pwd)"
  DO_SYSTEMCTL=0
elif [ "$(id -u)" -ne 0 ]; then
  echo "uninstall.sh: run as root: sudo ./uninstall.sh" >&2
  exit 2
fi

UNITS="appliance.service appliance-backup.service appliance-backup.timer"
say() { printf '  %-10s %s\n' "$1" "$2"; }
remove() {  # path...
  local p
  for p in "$@"; do
    if [ -e "$DESTDIR$p" ] || [ -L "$DESTDIR$p" ]; then
      rm -rf -- "$DESTDIR$p"
      say removed "$p"
    fi
  done
}

if [ "$DO_SYSTEMCTL" = 1 ]; then
  for unit in appliance-backup.timer appliance.service appliance-backup.service; do
    if systemctl list-unit-files "$unit" >/dev/null 2>&1; then
      systemctl disable --now --quiet "$unit" 2>/dev/null || true
    fi
  done
fi

for unit in $UNITS; do
  remove "/etc/systemd/system/$unit"
done
remove /etc/udev/rules.d/99-appliance-modems.rules /etc/udev/rules.d/99-appliance-modems.rules.dist
if [ "$(readlink "$DESTDIR/usr/local/bin/appliance" 2>/dev/null)" = "$PREFIX/venv/bin/appliance" ]; then
  remove /usr/local/bin/appliance
fi
remove "$PREFIX"

if [ "$DO_SYSTEMCTL" = 1 ]; then
  systemctl daemon-reload
  systemctl reset-failed $UNITS 2>/dev/null || true
  udevadm control --reload || true
fi

if [ "$PURGE" = 1 ]; then
  remove /var/lib/appliance /etc/appliance
  if [ -z "$DESTDIR" ] && getent passwd "$APP_USER" >/dev/null; then
    userdel "$APP_USER"; say removed "user $APP_USER"
  fi
  if [ -z "$DESTDIR" ] && getent group "$APP_USER" >/dev/null; then
    groupdel "$APP_USER" 2>/dev/null || true
  fi
  echo "Purged: program, units, configuration, credentials and data are gone."
else
  echo "Removed the program and its units."
  echo "Kept: /var/lib/appliance (database, backups), /etc/appliance (configuration, credentials), user $APP_USER."
  echo "To delete those too: sudo ./uninstall.sh --purge"
fi
