# Run inside a chroot where the popgate package was just installed (scripts/deb):
#   bash -s VERSION <deb-checks.sh
# with a certificate and key at the paths the shipped /etc/popgate/popgate.toml names. Checks
# what an admin relies on after `dpkg -i`; exits non-zero at the first thing that is wrong.
set -euo pipefail
version=$1
fail() {
  echo "deb-checks: FAIL: $*" >&2
  exit 1
}
ok() { echo "deb-checks: ok: $*"; }

echo "deb-checks: $(. /etc/os-release && echo "$PRETTY_NAME"), $(dpkg-query -W popgate)"
dpkg-query -W -f='${Status}' popgate | grep -q 'install ok installed' || fail "not installed"

# Files where the SPEC and Debian put them.
files=$(dpkg -L popgate)
for f in /usr/sbin/popgate /etc/popgate/popgate.toml \
  /usr/share/man/man8/popgate.8.gz /usr/share/man/man5/popgate.toml.5.gz \
  /usr/share/doc/popgate/copyright /usr/share/doc/popgate/changelog.gz \
  /usr/share/doc/popgate/examples/popgate.toml /usr/share/doc/popgate/examples/alerts.yml \
  /usr/share/doc/popgate/examples/deploy-hook \
  /usr/share/doc/popgate/examples/alerts_test.yml \
  /usr/share/doc/popgate/examples/popgate-dashboard.json; do
  grep -qx "$f" <<<"$files" || fail "$f is not in the package"
  [[ -e $f ]] || fail "$f is listed but missing"
done
ls /usr/share/doc/popgate/runbooks/PopgateBackendDown.md* >/dev/null || fail "no alert runbooks"
unit=$(grep -E '^(/usr)?/lib/systemd/system/popgate.service$' <<<"$files") ||
  fail "no popgate.service in the package"
ok "files in place (unit: $unit)"
dpkg-query -W -f='${Conffiles}\n' popgate | grep -q '^ /etc/popgate/popgate.toml ' ||
  fail "/etc/popgate/popgate.toml is not a conffile"
ok "/etc/popgate/popgate.toml is a conffile"

# The service user, and the unit enabled the way deb-systemd-helper does it.
getent passwd popgate | grep -q ':/usr/sbin/nologin$' || fail "no popgate system user with nologin"
[[ $(id -gn popgate) == popgate ]] || fail "popgate's group is $(id -gn popgate)"
[[ -L /etc/systemd/system/multi-user.target.wants/popgate.service ]] ||
  fail "popgate.service is not enabled"
ok "user popgate exists; popgate.service enabled"

# The man pages render.
for page in /usr/share/man/man8/popgate.8.gz /usr/share/man/man5/popgate.toml.5.gz; do
  zcat "$page" | grep -q '^\.TH ' || fail "$page has no .TH"
done

out=$(popgate --version)
echo "$out" | sed 's/^/  /'
grep -qx "popgate $version" <<<"$out" || fail "--version does not say popgate $version"
grep -q 'TLS 1.3 available' <<<"$out" || fail "--version: no TLS 1.3"
ok "popgate --version"

# The shipped config, completed with a certificate the service user may read (group popgate).
chown -R root:popgate /etc/popgate/pop.example.com
chmod 0750 /etc/popgate/pop.example.com
chmod 0640 /etc/popgate/pop.example.com/privkey.pem
out=$(popgate -c /etc/popgate/popgate.toml --check 2>&1) || fail "--check as root: $out"
ok "as root: $out"
# What ExecReload runs: the check as the service user.
out=$(runuser -u popgate -- popgate -c /etc/popgate/popgate.toml --check 2>&1) ||
  fail "--check as popgate: $out"
ok "as popgate: $out"
# A key the service user cannot read must fail that check, naming the file.
chmod 0600 /etc/popgate/pop.example.com/privkey.pem
if out=$(runuser -u popgate -- popgate -c /etc/popgate/popgate.toml --check 2>&1); then
  fail "--check as popgate passed with an unreadable key"
fi
grep -q privkey.pem <<<"$out" || fail "--check does not name the unreadable key: $out"
ok "unreadable key refused: $(head -n1 <<<"$out")"
chmod 0640 /etc/popgate/pop.example.com/privkey.pem
