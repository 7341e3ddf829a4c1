#!/usr/bin/env bash
# Package check: builds the deb and the rpm, installs, upgrades and purges
# the deb for real, runs the rpm's scripts through Debian's rpm, and checks
# what lands on disk. Runs as root on a clean Debian 12 (CI container or a
# scratch VM), from the repository root: .ci/package-check.sh
#
# Network: Debian's archive (rpm, systemd, groff-base and lintian when
# missing) and
# the Go module proxy (nfpm's first build).
#
# systemd: the script installs the systemd package when systemd-analyze is
# missing, but never needs systemd to be running. The maintainer scripts
# skip start/stop/daemon-reload when /run/systemd/system is absent (as in
# a container); `systemctl enable/disable` work offline (they only manage
# symlinks) and are checked. `systemd-analyze verify` runs offline with a
# timeout.
#
# The machine is left as it was except for the spoofguard user and group,
# which purge keeps on purpose (see packaging/scripts/postremove.sh), and
# the tools installed above.
set -euo pipefail
cd "$(dirname "$0")/.."
export GOTOOLCHAIN=local DEBIAN_FRONTEND=noninteractive
start=$(date +%s)

fail() {
	echo "package-check: FAIL: $*" >&2
	exit 1
}
step() { echo "== $*"; }

[ "$(id -u)" = 0 ] || fail "run as root (it installs the package)"

# The spoofguard user may exist from an earlier run (it is kept on purge);
# an installed package may not.
if grep -q installed <<<"$(dpkg-query -W -f='${Status}' spoofguard 2>/dev/null)"; then
	fail "spoofguard is already installed; purge it first"
fi

step "tools"
need=()
command -v rpm >/dev/null || need+=(rpm)
command -v systemd-analyze >/dev/null || need+=(systemd)
command -v groff >/dev/null || need+=(groff-base)
command -v lintian >/dev/null || need+=(lintian)
if [ ${#need[@]} -gt 0 ]; then
	apt-get update -qq
	# Keep services from starting while packages install (containers).
	policy=/usr/sbin/policy-rc.d
	if [ ! -e "$policy" ]; then
		printf '#!/bin/sh\nexit 101\n' >"$policy"
		chmod 755 "$policy"
		trap 'rm -f /usr/sbin/policy-rc.d' EXIT
	fi
	apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

step "build"
make package >/dev/null
shopt -s nullglob
debs=(dist/spoofguard_*_amd64.deb)
rpms=(dist/spoofguard-*-1.x86_64.rpm)
[ ${#debs[@]} = 1 ] || fail "want one deb in dist/, have: ${debs[*]:-none}"
[ ${#rpms[@]} = 1 ] || fail "want one rpm in dist/, have: ${rpms[*]:-none}"
version=${debs[0]#dist/spoofguard_}
version=${version%_amd64.deb}
echo "${debs[0]} ${rpms[0]}"
# Work on copies: the upgrade test below builds a second version, and
# "make package" keeps only the latest packages in dist/.
work=$(mktemp -d)
cp "${debs[0]}" "${rpms[0]}" "$work"/
deb=$work/${debs[0]#dist/} rpm=$work/${rpms[0]#dist/}

# expect_stat PATH MODE OWNER:GROUP
expect_stat() {
	local got
	got=$(stat -c '%a %U:%G' "$1") || fail "$1 is missing"
	[ "$got" = "$2 $3" ] || fail "$1: have $got, want $2 $3"
}

# files_of_deb/rpm: the regular files a package holds, sorted.
files_of_deb() { dpkg-deb -c "$1" | awk '$1 ~ /^-/ {print substr($6, 2)}' | sort; }
files_of_rpm() { rpm -qp --qf '[%{FILEMODES:perms} %{FILENAMES}\n]' "$1" 2>/dev/null | awk '$1 ~ /^-/ {print $2}' | sort; }

step "README names the packages make package builds"
# The README shows a release build; the Makefile must name it the same way.
readme_deb=$(grep -o 'spoofguard_[^ ]*_amd64\.deb' README.md | head -n1)
readme_rpm=$(grep -o 'spoofguard-[^ ]*\.x86_64\.rpm' README.md | head -n1)
[ -n "$readme_deb" ] && [ -n "$readme_rpm" ] || fail "README names no deb or no rpm"
readme_version=${readme_deb#spoofguard_}
readme_version=${readme_version%_amd64.deb}
planned=$(make -s -n package VERSION="$readme_version")
grep -qF -- "--target dist/$readme_deb" <<<"$planned" || fail "make package VERSION=$readme_version does not build $readme_deb"
grep -qF -- "--target dist/$readme_rpm" <<<"$planned" || fail "make package VERSION=$readme_version does not build $readme_rpm"

step "lintian"
lintian --fail-on error,warning --tag-display-limit 0 "$deb" || fail "lintian (override a tag only with a reason, in packaging/deb/lintian-overrides)"

step "package contents"
# The same files, apart from where each family keeps its licence and
# changelog, and lintian's overrides.
only_deb='^/usr/share/(doc/spoofguard/(copyright|changelog\.Debian\.gz)|lintian/overrides/spoofguard)$'
only_rpm='^/usr/share/licenses/spoofguard/LICENSE$'
files_of_deb "$deb" >/tmp/pkgcheck.deb.files
files_of_rpm "$rpm" >/tmp/pkgcheck.rpm.files
grep -Ev "$only_deb" /tmp/pkgcheck.deb.files >/tmp/pkgcheck.deb.common
grep -Ev "$only_rpm" /tmp/pkgcheck.rpm.files >/tmp/pkgcheck.rpm.common
diff -u /tmp/pkgcheck.deb.common /tmp/pkgcheck.rpm.common || fail "the deb and the rpm hold different files"
[ "$(grep -cE "$only_deb" /tmp/pkgcheck.deb.files)" = 3 ] || fail "the deb lacks its copyright, changelog or lintian overrides"
grep -qE "$only_rpm" /tmp/pkgcheck.rpm.files || fail "the rpm lacks /usr/share/licenses/spoofguard/LICENSE"
for f in /usr/sbin/spoofguard /etc/spoofguard/spoofguard.toml \
	/usr/lib/systemd/system/spoofguard.service /usr/lib/systemd/system/spoofguard.socket \
	/usr/share/man/man8/spoofguard.8.gz /usr/share/man/man5/spoofguard.toml.5.gz \
	/usr/share/doc/spoofguard/README.md /usr/share/doc/spoofguard/configuration.md \
	/usr/share/doc/spoofguard/examples/postfix/main.cf; do
	grep -qx "$f" /tmp/pkgcheck.deb.files || fail "$f is not in the packages"
done
grep -qx "$version" <<<"$(dpkg-deb -f "$deb" Version)" || fail "deb version is not $version"
dpkg-deb -e "$deb" /tmp/pkgcheck.control
grep -qx /etc/spoofguard/spoofguard.toml /tmp/pkgcheck.control/conffiles || fail "the deb does not mark the configuration as a conffile"
# Units go through deb-systemd-helper/deb-systemd-invoke (policy-rc.d is
# asked); systemctl only for daemon-reload.
grep -q 'deb-systemd-helper enable spoofguard.service' /tmp/pkgcheck.control/postinst || fail "postinst does not enable through deb-systemd-helper"
grep -q 'deb-systemd-invoke start spoofguard.service' /tmp/pkgcheck.control/postinst || fail "postinst does not start through deb-systemd-invoke"
grep -q 'deb-systemd-invoke stop' /tmp/pkgcheck.control/prerm || fail "prerm does not stop through deb-systemd-invoke"
grep -q 'deb-systemd-helper purge' /tmp/pkgcheck.control/postrm || fail "postrm does not purge through deb-systemd-helper"
if grep -h 'systemctl' /tmp/pkgcheck.control/postinst /tmp/pkgcheck.control/prerm /tmp/pkgcheck.control/postrm | grep -v '^[[:space:]]*#' | grep -v 'daemon-reload'; then
	fail "a deb maintainer script calls systemctl for more than daemon-reload"
fi
rm -rf /tmp/pkgcheck.control

step "man pages"
man=$(mktemp -d)
dpkg-deb -x "$deb" "$man"
for page in "$man"/usr/share/man/man8/spoofguard.8.gz "$man"/usr/share/man/man5/spoofguard.toml.5.gz; do
	warnings=$(zcat "$page" | groff -man -Tutf8 -ww -z 2>&1)
	[ -z "$warnings" ] || fail "$(basename "$page"): groff warnings: $warnings"
done
zcat "$man/usr/share/doc/spoofguard/changelog.Debian.gz" | head -n1 | grep -q '^spoofguard (' ||
	fail "the deb's changelog.Debian.gz is not a Debian changelog"
rm -rf "$man"

step "rpm metadata"
grep -qx /usr/sbin/spoofguard <<<"$(rpm -qpl "$rpm")" || fail "rpm -qpl lacks /usr/sbin/spoofguard"
grep -qx /etc/spoofguard/spoofguard.toml <<<"$(rpm -qpc "$rpm")" || fail "rpm -qpc lacks the configuration"
flags=$(rpm -qp --qf '[%{FILENAMES} %{FILEFLAGS:fflags}\n]' "$rpm" | awk '$1 == "/etc/spoofguard/spoofguard.toml" {print $2}')
[ "$flags" = cn ] || fail "configuration FILEFLAGS are '$flags', want cn (%config(noreplace))"
grep -qx '/etc/spoofguard/spoofguard.toml -rw-r----- root:spoofguard' <<<"$(rpm -qp --qf '[%{FILENAMES} %{FILEMODES:perms} %{FILEUSERNAME}:%{FILEGROUPNAME}\n]' "$rpm")" || fail "rpm: configuration is not 0640 root:spoofguard"
# %doc and %license: FILEFLAGS d and l.
fileflags=$(rpm -qp --qf '[%{FILENAMES} %{FILEFLAGS:fflags}\n]' "$rpm")
for f in /usr/share/doc/spoofguard/README.md /usr/share/doc/spoofguard/configuration.md; do
	grep -qx "$f d" <<<"$fileflags" || fail "rpm: $f is not marked %doc"
done
grep -qx '/usr/share/licenses/spoofguard/LICENSE l' <<<"$fileflags" || fail "rpm: LICENSE is not marked %license"
rpm -qp --changelog "$rpm" | grep -q 'First release' || fail "rpm has no %changelog"
scripts=$(rpm -qp --scripts "$rpm")
for s in preinstall postinstall preuninstall postuninstall; do
	grep -q "^$s scriptlet" <<<"$scripts" || fail "rpm has no $s scriptlet"
done

step "install the deb"
dpkg -i "$deb" >/dev/null
out=$(spoofguard version)
[[ $out =~ ^spoofguard\ ([^[:space:]]+)$ ]] || fail "spoofguard version says '$out'"
[ "$(packaging/version.sh "${BASH_REMATCH[1]}")" = "$version" ] ||
	fail "binary version ${BASH_REMATCH[1]} does not match package version $version"
grep -q '^/etc/spoofguard/spoofguard.toml: OK (0 protected domains, 0 relays, mode enforce)$' <<<"$(spoofguard config check)" ||
	fail "config check of the installed configuration"
# The service runs as spoofguard: it must be able to read its file.
runuser -u spoofguard -- /usr/sbin/spoofguard config check -config /etc/spoofguard/spoofguard.toml >/dev/null ||
	fail "the spoofguard user cannot read its configuration"
IFS=: read -r _ _ uid gid _ home shell < <(getent passwd spoofguard) || fail "no spoofguard user"
[ "$(getent group spoofguard | cut -d: -f3)" = "$gid" ] || fail "spoofguard's primary group is not spoofguard"
[ "$uid" -lt 1000 ] || fail "spoofguard is not a system user (uid $uid)"
[ "$home" = /var/lib/spoofguard ] || fail "spoofguard's home is $home"
case "$shell" in */nologin) ;; *) fail "spoofguard's shell is $shell" ;; esac
expect_stat /usr/sbin/spoofguard 755 root:root
expect_stat /etc/spoofguard 750 root:spoofguard
expect_stat /etc/spoofguard/spoofguard.toml 640 root:spoofguard
expect_stat /var/lib/spoofguard 750 spoofguard:spoofguard
expect_stat /usr/lib/systemd/system/spoofguard.service 644 root:root
wants=/etc/systemd/system/multi-user.target.wants/spoofguard.service
[ -L "$wants" ] || fail "the service was not enabled on install"

step "systemd-analyze verify"
timeout 120 systemd-analyze verify --man=no \
	/usr/lib/systemd/system/spoofguard.service /usr/lib/systemd/system/spoofguard.socket ||
	fail "systemd-analyze verify"
timeout 120 systemd-analyze security --offline=true /usr/lib/systemd/system/spoofguard.service 2>/dev/null |
	grep 'Overall exposure' || true

step "upgrade keeps the administrator's configuration"
echo '# edited by the administrator' >>/etc/spoofguard/spoofguard.toml
chmod 0600 /etc/spoofguard/spoofguard.toml
make package PKG_VERSION="$version.1" >/dev/null
mv "dist/spoofguard_${version}.1_amd64.deb" "dist/spoofguard-${version}.1-1.x86_64.rpm" "$work"/
dpkg -i --force-confold "$work/spoofguard_${version}.1_amd64.deb" >/dev/null
grep -qx "$version.1" <<<"$(dpkg-query -W -f='${Version}' spoofguard)" || fail "upgrade did not happen"
grep -q 'edited by the administrator' <<<"$(tail -n1 /etc/spoofguard/spoofguard.toml)" || fail "upgrade overwrote the configuration"
expect_stat /etc/spoofguard/spoofguard.toml 600 root:spoofguard
chmod 0640 /etc/spoofguard/spoofguard.toml

step "purge the deb"
dpkg --purge spoofguard >/dev/null
for p in /usr/sbin/spoofguard /etc/spoofguard /var/lib/spoofguard \
	/usr/lib/systemd/system/spoofguard.service /usr/lib/systemd/system/spoofguard.socket \
	/usr/share/man/man8/spoofguard.8.gz /usr/share/man/man5/spoofguard.toml.5.gz \
	/usr/share/doc/spoofguard "$wants"; do
	[ ! -e "$p" ] && [ ! -L "$p" ] || fail "$p is still there after purge"
done
! dpkg-query -W spoofguard >/dev/null 2>&1 || fail "dpkg still knows spoofguard"
getent passwd spoofguard >/dev/null || fail "purge removed the spoofguard user (it is documented to stay)"

step "rpm scripts (install 1, upgrade 2, erase 0) through Debian's rpm"
# The spec's conventions, run for real: %pre/%post with 1 on install and
# 2 on upgrade, %preun/%postun with 1 (upgrade) and 0 (erase). --nodeps:
# shadow-utils is not in Debian's rpm database.
rpmopts=(--nodeps --force-debian --quiet)
rpm -i "${rpmopts[@]}" "$rpm"
[ -L "$wants" ] || fail "rpm install: systemctl preset did not enable the service (Debian presets enable everything)"
expect_stat /etc/spoofguard/spoofguard.toml 640 root:spoofguard
expect_stat /var/lib/spoofguard 750 spoofguard:spoofguard
runuser -u spoofguard -- /usr/sbin/spoofguard config check >/dev/null || fail "rpm install: the user cannot read the configuration"
echo '# edited by the administrator' >>/etc/spoofguard/spoofguard.toml
rpm -U "${rpmopts[@]}" "$work/spoofguard-${version}.1-1.x86_64.rpm"
grep -q 'edited by the administrator' <<<"$(tail -n1 /etc/spoofguard/spoofguard.toml)" || fail "rpm upgrade overwrote the configuration"
rpm -e "${rpmopts[@]}" spoofguard
for p in /usr/sbin/spoofguard /usr/lib/systemd/system/spoofguard.service /var/lib/spoofguard "$wants"; do
	[ ! -e "$p" ] && [ ! -L "$p" ] || fail "$p is still there after rpm -e"
done
# rpm keeps a changed %config file as .rpmsave; the directory goes with it.
rm -rf /etc/spoofguard

# Leave dist/ with the packages of this checkout, as "make package" made them.
cp "$work/${debs[0]#dist/}" "$work/${rpms[0]#dist/}" dist/
rm -rf "$work" /tmp/pkgcheck.deb.files /tmp/pkgcheck.rpm.files /tmp/pkgcheck.deb.common /tmp/pkgcheck.rpm.common
echo "package-check: OK ($version, $(($(date +%s) - start))s)"
