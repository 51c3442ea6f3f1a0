"""The corpus of the second grounded-QA set: The Debian Administrator's Handbook (Debian 11
edition, English HTML; Raphaël Hertzog and Roland Mas, GPL-2.0+ or CC-BY-SA-3.0), taken
from Debian's own package `debian-handbook` 11.20220922, pinned by its sha256.

The package is fetched once with `apt-get download` (Debian's archive is a package
registry this machine reaches) into `bench/results/handbook/`, checked, and its en-US HTML
pages are extracted there. Each page (a chapter's opening or one of its sections) is one
file as a user would upload it. Pages are split by chapter into a development half and a
test half: questions of each half are written only from its own pages, and the whole book
is ingested as one collection, so every question is asked against all 129 pages.

    .venv/bin/python -m bench.handbook --text DIR   # each page's text, as the parser reads it
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

PACKAGE = "debian-handbook"
VERSION = "11.20220922"
SHA256 = "3d5dbeac1f1afc9c094eab9d0f701f6ecff99c4927d5a4794cf6c85678134faa"
HTML_DIR = "usr/share/doc/debian-handbook/html/en-US"
CACHE = Path(__file__).resolve().parent / "results" / "handbook"

# Chapters in book order, each with the pages that hold it (from the book's table of
# contents). Odd chapters (and appendix B) are the development half, even ones (and
# appendix A) the test half.
CHAPTERS: dict[str, tuple[str, ...]] = {
    "preface": (
        "preface.html",
        "foreword.html",
        "sect.who-is-this-book-for.html",
        "sect.selected-approach.html",
        "sect.book-structure.html",
        "sect.contributing.html",
        "sect.acknowledgments.html",
    ),
    "1": (
        "the-debian-project.html",
        "sect.foundation-documents.html",
        "sect.debian-internals.html",
        "sect.follow-debian-news.html",
        "sect.role-of-distributions.html",
        "sect.release-lifecycle.html",
    ),
    "2": (
        "case-study.html",
        "sect.master-plan.html",
        "sect.why-gnu-linux.html",
        "sect.why-debian.html",
        "sect.why-debian-stable.html",
    ),
    "3": ("existing-setup.html", "sect.how-to-migrate.html"),
    "4": ("installation.html", "sect.installation-steps.html", "sect.after-first-boot.html"),
    "5": (
        "packaging-system.html",
        "sect.package-meta-information.html",
        "sect.source-package-structure.html",
        "sect.manipulating-packages-with-dpkg.html",
        "sect.coexistence-with-other-packaging-systems.html",
    ),
    "6": (
        "apt.html",
        "sect.apt-get.html",
        "sect.apt-cache.html",
        "sect.apt-file.html",
        "sect.apt-frontends.html",
        "sect.package-authentication.html",
        "sect.dist-upgrade.html",
        "sect.regular-upgrades.html",
        "sect.automatic-upgrades.html",
        "sect.searching-packages.html",
    ),
    "7": ("solving-problems.html", "sect.common-procedures.html"),
    "8": (
        "basic-configuration.html",
        "sect.network-config.html",
        "sect.hostname-name-service.html",
        "sect.user-group-databases.html",
        "sect.creating-accounts.html",
        "sect.shell-environment.html",
        "sect.config-printing.html",
        "sect.config-bootloader.html",
        "sect.config-misc.html",
        "sect.kernel-compilation.html",
        "sect.kernel-installation.html",
    ),
    "9": (
        "unix-services.html",
        "sect.remote-login.html",
        "sect.rights-management.html",
        "sect.administration-interfaces.html",
        "sect.syslog.html",
        "sect.inetd.html",
        "sect.task-scheduling-cron-atd.html",
        "sect.asynchronous-task-scheduling-anacron.html",
        "sect.quotas.html",
        "sect.backup.html",
        "sect.hotplug.html",
        "sect.power-management.html",
    ),
    "10": (
        "network-infrastructure.html",
        "sect.x509-cert.html",
        "sect.virtual-private-network.html",
        "sect.quality-of-service.html",
        "sect.dynamic-routing.html",
        "sect.ipv6.html",
        "sect.domain-name-servers.html",
        "sect.dhcp.html",
        "sect.network-diagnosis-tools.html",
    ),
    "11": (
        "network-services.html",
        "sect.http-web-server.html",
        "sect.ftp-file-server.html",
        "sect.nfs-file-server.html",
        "sect.windows-file-server-with-samba.html",
        "sect.http-ftp-proxy.html",
        "sect.ldap-directory.html",
        "sect.rtc-services.html",
    ),
    "12": (
        "advanced-administration.html",
        "sect.virtualization.html",
        "sect.automated-installation.html",
        "sect.monitoring.html",
    ),
    "13": (
        "workstation.html",
        "sect.customizing-graphical-interface.html",
        "sect.graphical-desktops.html",
        "sect.main-desktop-tools.html",
        "sect.web-browsers.html",
        "sect.development.html",
        "sect.office-suites.html",
        "sect.windows-emulation.html",
        "sect.rtc-clients.html",
    ),
    "14": (
        "security.html",
        "sect.firewall-packet-filtering.html",
        "sect.supervision.html",
        "sect.apparmor.html",
        "sect.selinux.html",
        "sect.other-security-considerations.html",
        "sect.dealing-with-compromised-machine.html",
    ),
    "15": (
        "debian-packaging.html",
        "sect.building-first-package.html",
        "sect.setup-apt-package-repository.html",
        "sect.becoming-package-maintainer.html",
    ),
    "16": ("conclusion.html", "sect.future-of-debian.html", "sect.future-of-this-book.html"),
    "A": (
        "derivative-distributions.html",
        "sect.ubuntu.html",
        "sect.linux-mint.html",
        "sect.knoppix.html",
        "sect.aptosid.html",
        "sect.grml.html",
        "sect.tails.html",
        "sect.kali.html",
        "sect.devuan.html",
        "sect.doudoulinux.html",
        "sect.raspbian.html",
        "sect.pureos.html",
        "sect.steamos.html",
        "sect.other-derivatives.html",
    ),
    "B": (
        "short-remedial-course.html",
        "sect.filesystem-hierarchy.html",
        "sect.computer-layers.html",
        "sect.kernel-role-and-tasks.html",
        "sect.user-space.html",
    ),
}
DEV_CHAPTERS = frozenset({"preface", "1", "3", "5", "7", "9", "11", "13", "15", "B"})


@dataclass(frozen=True)
class Page:
    filename: str
    chapter: str
    html: bytes

    @property
    def split(self) -> str:
        return "dev" if self.chapter in DEV_CHAPTERS else "test"


def fetch(cache: Path = CACHE) -> Path:
    """The folder of en-US HTML pages, fetching and extracting the package on first use."""
    pages = cache / "en-US"
    if (pages / "index.html").exists():
        return pages
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        try:
            subprocess.run(
                ["apt-get", "download", f"{PACKAGE}={VERSION}"],
                cwd=scratch,
                check=True,
                capture_output=True,
                text=True,
            )
        except (OSError, subprocess.CalledProcessError) as exc:
            detail = getattr(exc, "stderr", "") or str(exc)
            sys.exit(f"could not download {PACKAGE} {VERSION} with apt-get: {detail.strip()}")
        (deb,) = Path(scratch).glob("*.deb")
        digest = hashlib.sha256(deb.read_bytes()).hexdigest()
        if digest != SHA256:
            sys.exit(f"{deb.name}: sha256 {digest}, expected {SHA256}")
        _extract(deb, Path(scratch) / "x")
        shutil.copytree(Path(scratch) / "x" / HTML_DIR, pages)
    return pages


def _extract(deb: Path, target: Path) -> None:
    """A .deb is an ar archive; its data member is a tar (xz here)."""
    data = deb.read_bytes()
    if not data.startswith(b"!<arch>\n"):
        sys.exit(f"{deb}: not a Debian package")
    position = 8
    while position < len(data):
        header = data[position : position + 60]
        name = header[:16].decode().strip().rstrip("/")
        size = int(header[48:58].decode().strip())
        body = data[position + 60 : position + 60 + size]
        if name.startswith("data.tar"):
            member = target.parent / name
            member.write_bytes(body)
            with tarfile.open(member) as archive:
                archive.extractall(target, filter="data")
            return
        position += 60 + size + (size % 2)
    sys.exit(f"{deb}: no data member")


def pages(cache: Path = CACHE) -> list[Page]:
    folder = fetch(cache)
    return [
        Page(name, chapter, (folder / name).read_bytes())
        for chapter, names in CHAPTERS.items()
        for name in names
    ]


def _write_text(target: Path) -> None:
    from mmstack.ingest.parsers import html_page
    from mmstack.ingest.parsers.limits import ParseLimits

    for page in pages():
        parsed = html_page.parse(page.html, filename=page.filename, limits=ParseLimits())
        lines = []
        for element in parsed.elements:
            lines.append(element.text)
        folder = target / page.split
        folder.mkdir(parents=True, exist_ok=True)
        header = f"# file: {page.filename} (chapter {page.chapter})\n\n"
        (folder / page.filename.replace(".html", ".txt")).write_text(
            header + "\n\n".join(lines) + "\n"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--text", type=Path, help="write each page's text into DIR/{dev,test}")
    args = parser.parse_args()
    found = pages()
    print(f"{len(found)} pages in {fetch()}")
    if args.text:
        _write_text(args.text)
        print(f"text written to {args.text}")


if __name__ == "__main__":
    main()
