#!/usr/bin/env bash
# Installs what `migbot lab up --openstack` runs: OpenStack Zed from Debian 12's own packages.
#
# The service packages (nova-api, nova-compute-qemu, keystone, glance, neutron-server, placement-api)
# pull in dbconfig-common, libvirt-daemon-system, systemd-container and every qemu-system
# architecture, and their maintainer scripts want systemd. So (as ../../../shared/OPENSTACK-LAB.md
# found) the Python libraries are installed, and the service packages are only downloaded and
# unpacked (dpkg-deb -x, no maintainer scripts) into OPENSTACK_ROOT for their entry points
# (/usr/bin/nova-compute, nova-api-wsgi, glance-api, neutron-server, ...) and their /etc files
# (api-paste.ini, rootwrap.conf, policy files). A policy-rc.d that exits 101 keeps apt from starting
# MariaDB or RabbitMQ: `lab up --openstack` starts its own, by hand, and `down` stops them.
#
# Idempotent: a second run installs and unpacks nothing. Root only. Prints the time apt took.
set -euo pipefail

# DEFAULT_OPENSTACK_ROOT in src/lab/openstack/layout.ts.
OPENSTACK_ROOT=/opt/migbot-openstack-zed

# Libraries and daemons, installed (`apt-get install --no-install-recommends`).
openstack_debs=(
  mariadb-server rabbitmq-server uwsgi-core uwsgi-plugin-python3
  python3-nova python3-keystone python3-glance python3-placement python3-neutron
  python3-libvirt python3-pymysql python3-openstackclient
  qemu-utils sudo
)
# Entry points and /etc files only, unpacked with dpkg-deb -x into OPENSTACK_ROOT.
unpacked_debs=(
  nova-common nova-api nova-conductor nova-scheduler nova-compute
  keystone placement-common placement-api glance-common glance-api neutron-common neutron-server
)

if [ "$(id -u)" -ne 0 ]; then
  echo "openstack install: must run as root" >&2
  exit 2
fi

missing=()
for deb in "${openstack_debs[@]}"; do
  dpkg-query -W -f='${Status}' "$deb" 2>/dev/null | grep -q 'install ok installed' || missing+=("$deb")
done
unpack_missing=()
for deb in "${unpacked_debs[@]}"; do
  [ -f "$OPENSTACK_ROOT/.unpacked/$deb" ] || unpack_missing+=("$deb")
done
if [ ${#missing[@]} -eq 0 ] && [ ${#unpack_missing[@]} -eq 0 ]; then
  echo "openstack install: everything already installed (unpacked entry points in $OPENSTACK_ROOT)"
  exit 0
fi

started=$(date +%s)
export DEBIAN_FRONTEND=noninteractive
made_policy=0
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\n# migbot lab install: no maintainer script starts a daemon\nexit 101\n' >/usr/sbin/policy-rc.d
  chmod 755 /usr/sbin/policy-rc.d
  made_policy=1
fi
cleanup() { if [ "$made_policy" = 1 ]; then rm -f /usr/sbin/policy-rc.d; fi; }
trap cleanup EXIT

apt-get update -qq
if [ ${#missing[@]} -gt 0 ]; then
  echo "openstack install: apt-get install ${missing[*]}"
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if [ ${#unpack_missing[@]} -gt 0 ]; then
  download_dir=$(mktemp -d)
  # apt-get download fetches as the _apt user when it can write the folder (else it warns).
  chown _apt "$download_dir" 2>/dev/null || true
  (cd "$download_dir" && apt-get download -qq "${unpack_missing[@]}")
  mkdir -p "$OPENSTACK_ROOT/.unpacked"
  for deb in "${unpack_missing[@]}"; do
    dpkg-deb -x "$download_dir/${deb}_"*.deb "$OPENSTACK_ROOT"
    dpkg-deb -f "$download_dir/${deb}_"*.deb Version >"$OPENSTACK_ROOT/.unpacked/$deb"
  done
  rm -rf "$download_dir"
fi
echo "openstack install: done in $(($(date +%s) - started)) s (apt-get update, install and download; entry points in $OPENSTACK_ROOT)"
