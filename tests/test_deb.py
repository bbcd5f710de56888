"""The Debian package: `scripts/build-deb` builds it; lintian passes; dpkg installs it.

The package is built once per session (two versions, for the upgrade), then installed,
upgraded, removed and purged with the real apt-get and dpkg of this Debian 12 system —
but inside a throwaway copy of it: a private mount namespace (`unshare --mount`) puts an
overlay over `/` whose writes land in the test's tmp directory, and `chroot`s into it.
The machine's own dpkg database, /etc and /usr are never touched, so this runs the same
on CI's container and on a developer's box, and two test runs at once do not meet on
dpkg's lock. It needs root (mount namespaces and overlayfs are root's): run the suite as
root, as CI does; as any other user the test fails and says so (it does not skip).
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BUILD_DEB = ROOT / "scripts" / "build-deb"
V1 = "0.1.0~test1"
V2 = "0.1.0~test2"
UPGRADE_MARK = "# shipped by the second build (test_deb)"

pytestmark = pytest.mark.timeout(600)


def _run(cmd: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, check=False, **kw)  # type: ignore[call-overload, no-any-return]


def _build(src: Path, version: str, out: Path) -> Path:
    done = _run([str(src / "scripts" / "build-deb"), "--version", version, "--out", str(out)],
                timeout=400)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    arch = _run(["dpkg", "--print-architecture"]).stdout.strip()
    deb = out / f"appliance_{version}_{arch}.deb"
    assert deb.is_file(), f"{deb.name} not built: {sorted(p.name for p in out.iterdir())}"
    return deb


@dataclass(frozen=True)
class Debs:
    v1: Path
    v2: Path


def _repack(deb: Path, version: str, work: Path) -> Path:
    """`deb` as a later version whose shipped default config differs (for the upgrade).

    Repacking takes seconds where a second build takes half a minute; the maintainer
    scripts, which the upgrade exercises, are the same in both.
    """
    tree = work / "tree"
    assert _run(["dpkg-deb", "-R", str(deb), str(tree)]).returncode == 0
    control = tree / "DEBIAN" / "control"
    control.write_text(re.sub(r"(?m)^Version: .*$", f"Version: {version}",
                              control.read_text()))
    config = tree / "etc" / "appliance" / "appliance.toml"
    config.write_text(config.read_text(encoding="utf-8") + f"\n{UPGRADE_MARK}\n",
                      encoding="utf-8")
    md5 = _run(["md5sum", "etc/appliance/appliance.toml"], cwd=tree).stdout
    sums = tree / "DEBIAN" / "md5sums"
    sums.write_text("".join(line + "\n" for line in sums.read_text().splitlines()
                            if not line.endswith(" etc/appliance/appliance.toml")) + md5)
    out = deb.with_name(deb.name.replace(_field(deb, "Version"), version))
    done = _run(["dpkg-deb", "--root-owner-group", "-Zxz", "-z1", "--build", str(tree),
                 str(out)])
    assert done.returncode == 0, done.stderr
    return out


@pytest.fixture(scope="session")
def debs(tmp_path_factory: pytest.TempPathFactory) -> Debs:
    """Version 1 built from this tree by scripts/build-deb; version 2 repacked from it."""
    out = tmp_path_factory.mktemp("debs")
    v1 = _build(ROOT, V1, out)
    return Debs(v1, _repack(v1, V2, tmp_path_factory.mktemp("repack")))


@pytest.fixture(scope="session")
def unpacked(debs: Debs, tmp_path_factory: pytest.TempPathFactory) -> Path:
    tree = tmp_path_factory.mktemp("unpacked")
    done = _run(["dpkg-deb", "-R", str(debs.v1), str(tree)])
    assert done.returncode == 0, done.stderr
    return tree


def _field(deb: Path, name: str) -> str:
    return _run(["dpkg-deb", "-f", str(deb), name]).stdout.strip()


def test_control_data(debs: Debs, unpacked: Path) -> None:
    assert _field(debs.v1, "Package") == "appliance"
    assert _field(debs.v1, "Version") == V1
    assert _field(debs.v1, "Architecture") == _run(["dpkg", "--print-architecture"]).stdout.strip()
    depends = _field(debs.v1, "Depends")
    for needed in ("python3 (>= 3.11)", "python3 (<< 3.12)", "adduser", "libc6"):
        assert needed in depends, depends
    conffiles = (unpacked / "DEBIAN" / "conffiles").read_text().split()
    assert conffiles == ["/etc/appliance/appliance.toml",
                         "/etc/udev/rules.d/99-appliance-modems.rules"]
    for script in ("postinst", "prerm", "postrm"):
        path = unpacked / "DEBIAN" / script
        assert os.access(path, os.X_OK), script
        assert _run(["sh", "-n", str(path)]).returncode == 0, script


def test_contents(debs: Debs, unpacked: Path) -> None:
    listing = _run(["dpkg-deb", "-c", str(debs.v1)]).stdout
    assert re.search(r"^lrwxrwxrwx root/root .* \./usr/bin/appliance -> "
                     r"\.\./lib/appliance/venv/bin/appliance$", listing, re.M), listing[:2000]
    owners = {line.split()[1] for line in listing.splitlines()}
    assert owners == {"root/root"}
    for path in ("lib/systemd/system/appliance.service",
                 "lib/systemd/system/appliance-backup.service",
                 "lib/systemd/system/appliance-backup.timer",
                 "etc/udev/rules.d/99-appliance-modems.rules",
                 "etc/appliance/appliance.toml",
                 "usr/share/doc/appliance/copyright",
                 "usr/share/doc/appliance/hardware.md",
                 "usr/lib/appliance/venv/lib/python3.11/site-packages/appliance/cli.py"):
        assert (unpacked / path).is_file(), path
    assert (unpacked / "etc/appliance/appliance.toml").read_bytes() == \
        (ROOT / "config/appliance.example.toml").read_bytes()
    unit = (unpacked / "lib/systemd/system/appliance.service").read_text()
    assert "ExecStart=/usr/bin/appliance run --config /etc/appliance/appliance.toml" in unit
    assert "ConditionPathExists=/etc/appliance/credentials/bank-token" in unit
    assert "/opt/appliance" not in unit
    # No byte-code (postinst makes it for the box's interpreter), no pip, and nothing
    # names the temporary directory the venv was built in.
    assert not list(unpacked.rglob("__pycache__"))
    assert not list(unpacked.rglob("pip"))
    staged = _run(["grep", "-rlIE", r"build-deb\.[A-Za-z0-9]{6}", str(unpacked / "usr")])
    assert staged.stdout == "", staged.stdout
    python = unpacked / "usr/lib/appliance/venv/bin/python3"
    assert os.readlink(python) == "/usr/bin/python3"


def test_lintian_has_no_errors(debs: Debs) -> None:
    done = _run(["lintian", "--fail-on", "error", "--info", "--tag-display-limit", "0",
                 str(debs.v1)], timeout=300)
    lines = [ln for ln in done.stdout.splitlines() if re.match(r"[EWI]: ", ln)]
    assert done.returncode == 0, done.stdout + done.stderr
    assert not [ln for ln in lines if ln.startswith("E: ")], lines
    # Every override in packaging/debian/lintian-overrides still matches a tag.
    assert not [ln for ln in lines if "unused-override" in ln or "mismatched-override" in ln], lines


# --- installing into a throwaway overlay of this system -----------------------------------

_BOX = r"""
set -e
mount -t overlay overlay -o "lowerdir=/,upperdir=$BOX_UPPER,workdir=$BOX_WORK" "$BOX_ROOT"
for d in proc sys dev; do mount --rbind "/$d" "$BOX_ROOT/$d"; done
mount --bind "$BOX_DEBS" "$BOX_ROOT$BOX_DEBS"
exec chroot "$BOX_ROOT" /bin/sh -c "$BOX_CMD"
"""


class Box:
    """This system seen through an overlay in `base`: writes land there, not on the host."""

    def __init__(self, base: Path, debs: Path) -> None:
        self.dirs = {name: base / name for name in ("upper", "work", "root")}
        for d in self.dirs.values():
            d.mkdir()
        self.debs = debs

    def sh(self, cmd: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        env = {
            "PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8",
            "DEBIAN_FRONTEND": "noninteractive",
            "BOX_UPPER": str(self.dirs["upper"]), "BOX_WORK": str(self.dirs["work"]),
            "BOX_ROOT": str(self.dirs["root"]), "BOX_DEBS": str(self.debs), "BOX_CMD": cmd,
        }
        return _run(["unshare", "--mount", "--propagation", "private", "sh", "-c", _BOX],
                    env=env, timeout=timeout)

    def ok(self, cmd: str, timeout: float = 300) -> str:
        done = self.sh(cmd, timeout)
        assert done.returncode == 0, f"{cmd}\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
        return done.stdout

    def exists(self, path: str) -> bool:
        return self.sh(f"test -e {path} || test -L {path}").returncode == 0


@pytest.fixture
def box(tmp_path: Path, debs: Debs) -> Box:
    if os.geteuid() != 0:
        pytest.fail("test_deb installs the package into an overlay of / in a private mount "
                    "namespace, which needs root: run the suite as root (CI does), e.g. "
                    "`sudo .venv/bin/pytest tests/test_deb.py`")
    b = Box(tmp_path, debs.v1.parent)
    probe = b.sh("true")
    assert probe.returncode == 0, f"cannot make the overlay: {probe.stderr}"
    return b


APT = ("apt-get install -y -q --no-install-recommends "
       "-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold")
STATUS = "dpkg-query -W -f='${db:Status-Abbrev} ${Version}' appliance"
DB = "/var/lib/appliance/appliance.sqlite"
SEED = (
    "from pathlib import Path; from appliance.store import open_database; "
    "from appliance.store.queries import set_state; "
    f"db = open_database(Path('{DB}')); set_state('test_deb', 'kept'); db.close()"
)
READ = (
    "from pathlib import Path; from appliance.store import open_database; "
    "from appliance.store.queries import get_state; "
    f"db = open_database(Path('{DB}')); print(get_state('test_deb')); db.close()"
)
AS_APPLIANCE = "setpriv --reuid=appliance --regid=appliance --init-groups"
PY = "/usr/lib/appliance/venv/bin/python"


def test_install_upgrade_remove_purge(box: Box, debs: Debs) -> None:
    host_status = Path("/var/lib/dpkg/status").stat()

    # --- install --------------------------------------------------------------------------
    out = box.ok(f"{APT} {debs.v1}")
    assert "appliance installed. Next:" in out
    assert box.ok(STATUS).startswith(f"ii  {V1}")
    assert "appliance, version" in box.ok("appliance --version")
    assert box.ok("id -nG appliance").split() == ["appliance", "dialout"]
    assert box.ok("getent passwd appliance").strip().endswith(
        ":/var/lib/appliance:/usr/sbin/nologin")
    assert box.ok("stat -c '%a %U:%G' /etc/appliance /var/lib/appliance "
                  "/etc/appliance/credentials").split("\n")[:3] == [
        "750 root:appliance", "750 appliance:appliance", "700 root:root"]
    # Enabled (for the next boot), not started: there is no systemd here to start it.
    for link in ("/etc/systemd/system/multi-user.target.wants/appliance.service",
                 "/etc/systemd/system/timers.target.wants/appliance-backup.timer"):
        assert box.ok(f"readlink {link}").strip().startswith("/lib/systemd/system/"), link
    assert box.ok("find /usr/lib/appliance/venv -name '*.pyc' | head -n1").strip()
    assert box.ok("appliance doctor --help").startswith("Usage:")
    # systemd accepts the installed units as they are (ExecStart= exists, keys known).
    verify = box.sh("systemd-analyze verify /lib/systemd/system/appliance.service "
                    "/lib/systemd/system/appliance-backup.service "
                    "/lib/systemd/system/appliance-backup.timer")
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert "appliance" not in verify.stdout + verify.stderr, verify.stdout + verify.stderr

    # The service's first start creates the database; an operator edits the config.
    box.ok(f"{AS_APPLIANCE} {PY} -c \"{SEED}\"")
    box.ok("echo '# edited by the operator' >> /etc/appliance/appliance.toml && "
           "echo token > /etc/appliance/credentials/bank-token")

    # --- upgrade: config and database kept, the new default config beside it ------------
    box.ok(f"{APT} {debs.v2}")
    assert box.ok(STATUS).startswith(f"ii  {V2}")
    config = box.ok("cat /etc/appliance/appliance.toml")
    assert "# edited by the operator" in config
    assert UPGRADE_MARK not in config
    assert UPGRADE_MARK in box.ok("cat /etc/appliance/appliance.toml.dpkg-dist")
    # The new version opens (and migrates) the old database.
    assert box.ok(f"{AS_APPLIANCE} {PY} -c \"{READ}\"").strip() == "kept"
    assert box.ok("cat /etc/appliance/credentials/bank-token").strip() == "token"

    # --- remove: the program goes, data and configuration stay ---------------------------
    box.ok("apt-get remove -y -q appliance")
    assert box.ok(STATUS).startswith("rc ")
    assert not box.exists("/usr/bin/appliance")
    assert not box.exists("/lib/systemd/system/appliance.service")
    assert box.exists(DB)
    assert box.exists("/etc/appliance/appliance.toml")
    assert box.exists("/etc/appliance/credentials/bank-token")

    # --- purge: everything goes but the user ----------------------------------------------
    box.ok("apt-get purge -y -q appliance")
    assert box.sh(STATUS).returncode != 0 or box.ok(STATUS).startswith("un ")
    for gone in ("/var/lib/appliance", "/etc/appliance", "/usr/lib/appliance",
                 "/etc/udev/rules.d/99-appliance-modems.rules",
                 "/etc/systemd/system/multi-user.target.wants/appliance.service"):
        assert not box.exists(gone), gone
    assert box.sh("dpkg-statoverride --list /etc/appliance").returncode != 0
    assert box.ok("getent passwd appliance").startswith("appliance:")

    # The machine itself never saw any of it.
    assert Path("/var/lib/dpkg/status").stat().st_mtime == host_status.st_mtime
    assert _run(["dpkg-query", "-W", "appliance"]).returncode != 0 or \
        not _run(["dpkg-query", "-W", "-f=${Version}", "appliance"]).stdout.startswith("0.1.0~test")
