#!/bin/sh
# Installs the Debian packages CloudNet needs to build, test and run, and
# does nothing when they are all present. Called by the Makefile on demand.
set -eu

PACKAGES="
build-essential pkg-config clang libclang-rt-14-dev
libyaml-dev
libglpk-dev
libxmlrpc-core-c3-dev
libmariadb-dev mariadb-server mariadb-client
libvirt-dev libvirt0 libxml2-dev
libjson-c-dev
graphviz
iproute2 iputils-ping
python3
"

missing=""
for p in $PACKAGES; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing="$missing $p"
    fi
done

[ -z "$missing" ] && exit 0

echo "install-deps: installing:$missing"
if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: not root; run: apt-get install$missing" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# The MariaDB server package must not start a system service; the project
# starts its own private servers.
if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    remove_policy=1
else
    remove_policy=0
fi
apt-get install -y -qq --no-install-recommends $missing
[ "$remove_policy" -eq 1 ] && rm -f /usr/sbin/policy-rc.d
exit 0
