#!/usr/bin/env bash
# Installs the SMS-banking appliance on a Debian 12 box:  sudo ./install.sh
#
# What it does (each step only when needed, so running it twice changes nothing):
#   - a system user `appliance` (group `appliance`, member of `dialout` for the modem),
#   - the program in its own venv under /opt/appliance/venv (from this source tree, or
#     offline from a wheelhouse: --wheelhouse DIR, built with `pip wheel -w DIR .`),
#   - the configuration /etc/appliance/appliance.toml (never overwritten once there),
#     and /etc/appliance/credentials/ for the bank token and SIM PINs,
#   - the systemd units (appliance.service, appliance-backup.service + .timer) and the
#     udev rule for the modems (never overwritten once you have edited it),
#   - the documentation under /opt/appliance/share/doc/.
# At the end it says what to edit next. See docs/operations.md.
#
# Options:
#   --prefix DIR      where the program goes (default /opt/appliance)
#   --wheelhouse DIR  install from these wheels only (no network)
#   --python PATH     the Python (>= 3.11) for the venv (default /usr/bin/python3: the
#                     system's; one under /root or /home would be hidden from the service)
#   --no-user         do not create the user (it exists, or a test)
#   --no-venv         do not create the venv or run pip (tests)
#   --no-systemctl    do not run systemctl/udevadm (tests, images)
# DESTDIR=/some/root stages everything under that root (for tests and image builds); it
# implies --no-user --no-venv --no-systemctl, and ownership changes are skipped.
set -euo pipefail
umask 022

SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PREFIX=/opt/appliance
WHEELHOUSE=""
PYTHON=""
DO_USER=1
DO_VENV=1
DO_SYSTEMCTL=1
DESTDIR="${DESTDIR:-}"
APP_USER=appliance

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) PREFIX="${2:?--prefix needs a directory}"; shift 2 ;;
    --prefix=*) PREFIX="${1#*=}"; shift ;;
    --wheelhouse) WHEELHOUSE="${2:?--wheelhouse needs a directory}"; shift 2 ;;
    --wheelhouse=*) WHEELHOUSE="${1#*=}"; shift ;;
    --python) PYTHON="${2:?--python needs a path}"; shift 2 ;;
    --python=*) PYTHON="${1#*=}"; shift ;;
    --no-user) DO_USER=0; shift ;;
    --no-venv) DO_VENV=0; shift ;;
    --no-systemctl) DO_SYSTEMCTL=0; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "install.sh: unknown option $1 (try --help)" >&2; exit 2 ;;
  esac
done
case "$PREFIX" in
  /*) ;;
  *) echo "install.sh: --prefix must be an absolute path, got $PREFIX" >&2; exit 2 ;;
esac
PREFIX="${PREFIX%/}"

if [ -n "$DESTDIR" ]; then
  DESTDIR="$(mkdir -p "$DESTDIR" && cd "$DESTDIR" && pwd)"
  DO_USER=0; DO_VENV=0; DO_SYSTEMCTL=0
elif [ "$(id -u)" -ne 0 ]; then
  echo "install.sh: run as root: sudo ./install.sh" >&2
  exit 2
fi

ETC=/etc/appliance
STATE=/var/lib/appliance
UNITDIR=/etc/systemd/system
UDEVDIR=/etc/udev/rules.d
VENV="$PREFIX/venv"
CHANGED=0
code_changed=0

say() { printf '  %-10s %s\n' "$1" "$2"; }

# chown only for a real install: under DESTDIR the user need not exist.
own() {
  [ -z "$DESTDIR" ] || return 0
  chown "$1" "$2"
}

# mkdir with mode and owner, reporting only when something changed.
ensure_dir() {  # path mode owner
  local p="$DESTDIR$1"
  if [ ! -d "$p" ]; then
    mkdir -p "$p"; say created "$1/"; CHANGED=1
  fi
  if [ "$(stat -c %a "$p")" != "$2" ]; then chmod "$2" "$p"; fi
  own "$3" "$p"
}

# Install a file when it is missing or differs; keep it as it is when identical.
put_file() {  # source dest mode owner
  local dest="$DESTDIR$2"
  if [ -f "$dest" ] && cmp -s "$1" "$dest"; then
    [ "$(stat -c %a "$dest")" = "$3" ] || chmod "$3" "$dest"
    own "$4" "$dest"
    return 0
  fi
  mkdir -p "$(dirname "$dest")"
  local verb=installed
  [ -e "$dest" ] && verb=updated
  install -m "$3" "$1" "$dest.tmp.$$"
  own "$4" "$dest.tmp.$$"
  mv -f "$dest.tmp.$$" "$dest"
  say "$verb" "$2"; CHANGED=1
}

# A file the operator edits (config, udev rule): install once; later versions go
# beside it as <file>.dist so nothing the operator wrote is ever overwritten.
put_config() {  # source dest mode owner
  local dest="$DESTDIR$2"
  if [ ! -e "$dest" ]; then
    put_file "$1" "$2" "$3" "$4"
    return 0
  fi
  if cmp -s "$1" "$dest"; then return 0; fi
  if [ -f "$dest.dist" ] && cmp -s "$1" "$dest.dist"; then return 0; fi
  install -m "$3" "$1" "$dest.dist"
  own "$4" "$dest.dist"
  say kept "$2 (yours; the shipped version is in $2.dist)"; CHANGED=1
}

# The units name the program by its path: follow --prefix.
render_unit() {  # source -> stdout
  sed "s#/opt/appliance#$PREFIX#g" "$1"
}

echo "Installing the SMS-banking appliance (source $SRC, program in $PREFIX${DESTDIR:+, under $DESTDIR})"

# --- 1. the user -------------------------------------------------------------------------
if [ "$DO_USER" = 1 ]; then
  if ! getent group "$APP_USER" >/dev/null; then
    groupadd --system "$APP_USER"; say created "group $APP_USER"; CHANGED=1
  fi
  if ! getent passwd "$APP_USER" >/dev/null; then
    useradd --system --gid "$APP_USER" --groups dialout --home-dir "$STATE" --no-create-home \
      --shell /usr/sbin/nologin --comment "SMS-banking appliance" "$APP_USER"
    say created "user $APP_USER (groups: $APP_USER, dialout)"; CHANGED=1
  elif ! id -nG "$APP_USER" | tr ' ' '\n' | grep -qx dialout; then
    usermod -a -G dialout "$APP_USER"; say added "user $APP_USER to group dialout"; CHANGED=1
  fi
fi

# --- 2. directories ----------------------------------------------------------------------
ensure_dir "$PREFIX" 755 root:root
ensure_dir "$PREFIX/share/doc" 755 root:root
ensure_dir "$ETC" 750 "root:$APP_USER"
# Secrets: root only; systemd hands them to the service as credentials (LoadCredential=).
ensure_dir "$ETC/credentials" 700 root:root
ensure_dir "$ETC/credentials/sim-pins" 700 root:root
# The database, backups and health snapshot: the service user's alone (invariant 7).
ensure_dir "$STATE" 700 "$APP_USER:$APP_USER"
ensure_dir "$STATE/backups" 700 "$APP_USER:$APP_USER"

# --- 3. the program ----------------------------------------------------------------------
if [ "$DO_VENV" = 1 ]; then
  if [ -z "$PYTHON" ]; then
    PYTHON=/usr/bin/python3
    [ -x "$PYTHON" ] || PYTHON="$(command -v python3 || true)"
  fi
  real_python="$(readlink -f "$PYTHON" 2>/dev/null || true)"
  case "$real_python" in
    /root/*|/home/*)
      # ProtectHome= hides these from the service: its interpreter would vanish.
      echo "install.sh: $PYTHON lives under a home directory ($real_python); use the system's: --python /usr/bin/python3" >&2
      exit 2 ;;
  esac
  if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "install.sh: Python >= 3.11 is needed at ${PYTHON:-python3} (Debian 12: apt-get install python3)" >&2
    exit 1
  fi
  if ! "$PYTHON" -c 'import ensurepip, venv' 2>/dev/null; then
    echo "  apt-get    python3-venv"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
  fi
  # A venv whose interpreter went away (Python upgraded, another --python) is rebuilt.
  if [ -d "$VENV" ] && { ! "$VENV/bin/python" -c 'import sys' 2>/dev/null \
       || grep -Eq '^home = /(root|home)/' "$VENV/pyvenv.cfg" 2>/dev/null; }; then
    rm -rf "$VENV"; say removed "a venv the service could not use"
  fi
  if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"; say created "venv $VENV ($("$VENV/bin/python" -V))"; CHANGED=1
  fi
  # Reinstall only when the source changed: a fingerprint of what pip would install.
  stamp="$(cd "$SRC" && find appliance pyproject.toml -type f \( -name '*.py' -o -name '*.toml' \
           -o -name '*.yaml' -o -name '*.json' -o -name '*.txt' -o -name py.typed \) \
           -not -path '*/__pycache__/*' -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-64)"
  if [ ! -x "$VENV/bin/appliance" ] || [ "$(cat "$VENV/.appliance-source" 2>/dev/null)" != "$stamp" ]; then
    if [ -n "$WHEELHOUSE" ]; then
      "$VENV/bin/pip" install -q --no-index --find-links "$WHEELHOUSE" --upgrade appliance
      "$VENV/bin/pip" install -q --no-index --find-links "$WHEELHOUSE" --force-reinstall --no-deps appliance
    else
      "$VENV/bin/pip" install -q --upgrade pip
      "$VENV/bin/pip" install -q "$SRC"  # the dependencies
      # then this very source tree, even when its version number did not change
      "$VENV/bin/pip" install -q --force-reinstall --no-deps --no-cache-dir "$SRC"
    fi
    echo "$stamp" > "$VENV/.appliance-source"
    code_changed=1
    say installed "$("$VENV/bin/appliance" --version 2>/dev/null || echo appliance) into $VENV"; CHANGED=1
  fi
fi

# The command on root's PATH, for doctor and status.
link="$DESTDIR/usr/local/bin/appliance"
if [ "$(readlink "$link" 2>/dev/null)" != "$VENV/bin/appliance" ]; then
  mkdir -p "$(dirname "$link")"
  ln -sfn "$VENV/bin/appliance" "$link"; say linked "/usr/local/bin/appliance -> $VENV/bin/appliance"; CHANGED=1
fi

# --- 4. configuration --------------------------------------------------------------------
example=""
for candidate in "$SRC/config/appliance.example.toml" "$SRC/config/appliance.toml"; do
  if [ -f "$candidate" ]; then example="$candidate"; break; fi
done
if [ -n "$example" ]; then
  put_config "$example" "$ETC/appliance.toml" 640 "root:$APP_USER"
  put_file "$example" "$PREFIX/share/doc/appliance.example.toml" 644 root:root
else
  echo "install.sh: warning: no config/appliance.example.toml in $SRC; write $ETC/appliance.toml yourself" >&2
fi

# --- 5. systemd units and the udev rule --------------------------------------------------
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
units_changed=0
for unit in appliance.service appliance-backup.service appliance-backup.timer; do
  render_unit "$SRC/systemd/$unit" > "$tmp/$unit"
  before=$CHANGED; CHANGED=0
  put_file "$tmp/$unit" "$UNITDIR/$unit" 644 root:root
  [ "$CHANGED" = 0 ] || units_changed=1
  CHANGED=$(( before | CHANGED ))
done
before=$CHANGED; CHANGED=0
put_config "$SRC/systemd/99-appliance-modems.rules" "$UDEVDIR/99-appliance-modems.rules" 644 root:root
udev_changed=$CHANGED
CHANGED=$(( before | CHANGED ))

# --- 6. documentation --------------------------------------------------------------------
for doc in "$SRC/docs/operations.md" "$SRC/hardware.md"; do
  [ -f "$doc" ] && put_file "$doc" "$PREFIX/share/doc/$(basename "$doc")" 644 root:root
done
# The uninstaller, with this install's prefix as its default.
render_unit "$SRC/uninstall.sh" > "$tmp/uninstall.sh"
put_file "$tmp/uninstall.sh" "$PREFIX/share/uninstall.sh" 755 root:root
# The fake bank's demo data, for the rehearsal with the fake modem (hardware.md §7).
if [ -f "$SRC/config/demo-bank.yaml" ]; then
  put_file "$SRC/config/demo-bank.yaml" "$PREFIX/share/demo-bank.yaml" 644 root:root
fi

# --- 7. tell systemd and udev ------------------------------------------------------------
# systemd's own test for "booted with systemd": a chroot or container without it would
# otherwise stop the install half-way at `systemctl daemon-reload`.
if [ "$DO_SYSTEMCTL" = 1 ] && [ ! -d /run/systemd/system ]; then
  say skipped "systemctl and udevadm: systemd is not running here (the units are installed)"
  DO_SYSTEMCTL=0
fi
if [ "$DO_SYSTEMCTL" = 1 ]; then
  if [ "$units_changed" = 1 ]; then systemctl daemon-reload; fi
  if ! systemctl is-enabled --quiet appliance-backup.timer 2>/dev/null; then
    systemctl enable --now --quiet appliance-backup.timer; say enabled appliance-backup.timer; CHANGED=1
  fi
  if [ "$udev_changed" = 1 ]; then
    udevadm control --reload
    udevadm trigger --subsystem-match=tty --action=change
  fi
  # A running service picks up new code or units only when restarted.
  if [ "$units_changed$code_changed" != 00 ] && systemctl is-active --quiet appliance.service; then
    systemctl try-restart appliance.service; say restarted appliance.service
  fi
fi

if [ "$CHANGED" = 0 ]; then
  echo "Nothing to do: everything is installed and up to date."
fi

token_note=""
[ -s "$DESTDIR$ETC/credentials/bank-token" ] || token_note=" (still missing)"
cat <<EOF

Next steps:
  1. Plug in the modem(s); name each one in $UDEVDIR/99-appliance-modems.rules
     (by vendor, model and serial, e.g. /dev/gsm-vala), then:
       udevadm control --reload && udevadm trigger --subsystem-match=tty
  2. Edit $ETC/appliance.toml: modems (port = "/dev/gsm-vala", operator), bank url.
  3. Put the bank's API token in $ETC/credentials/bank-token$token_note
     (chmod 600; the service reads it as /run/credentials/appliance.service/bank-token).
     A SIM with a PIN: put the PIN in $ETC/credentials/sim-pins/<modem name>
     (read as /run/credentials/appliance.service/sim-pin_<modem name>).
  4. Check everything:   sudo appliance doctor --config $ETC/appliance.toml
  5. Start it:           sudo systemctl enable --now appliance
     and watch it:       systemctl status appliance; journalctl -u appliance -f
                         sudo appliance status --config $ETC/appliance.toml
  Guide: $PREFIX/share/doc/operations.md and hardware.md
EOF
