#!/usr/bin/python3
"""migbot lab (openstack mode): start nova-compute the way systemd starts Debian's Type=notify unit.

Usage: notify-start.py PID_FILE OUT_FILE PROGRAM [ARG...]

Runs PROGRAM in a new session with a clean environment (as systemd does) and NOTIFY_SOCKET set to a
datagram socket of its own, writes the PID to PID_FILE, and returns once the program says READY=1
(oslo.service does, via sd_notify, once the service is launched): exit 0. If the program exits
first, or is not ready within systemd's default start timeout, it exits 1 (systemd then marks the
unit failed and kills what is left of it).
"""
import os
import socket
import subprocess
import sys
import time

# systemd's DefaultTimeoutStartSec (Debian's nova-compute.service sets none of its own).
START_TIMEOUT_S = 90
# Debian's nova-compute.service: TimeoutStopSec=15, for the kill after a failed start.
STOP_TIMEOUT_S = 15
# The unit's WorkingDirectory=~ for User=nova, whose home is /var/lib/nova.
WORKING_DIRECTORY = "/var/lib/nova"
SERVICE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def main() -> int:
    pid_file, out_path, *argv = sys.argv[1:]
    sock_path = pid_file + ".notify"
    try:
        os.unlink(sock_path)
    except FileNotFoundError:
        pass
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(sock_path)
    sock.settimeout(0.2)
    env = {"PATH": SERVICE_PATH, "LANG": "C.UTF-8", "HOME": WORKING_DIRECTORY, "NOTIFY_SOCKET": sock_path}
    os.makedirs(WORKING_DIRECTORY, exist_ok=True)
    with open(out_path, "ab") as out:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            env=env,
            cwd=WORKING_DIRECTORY,
            start_new_session=True,
        )
    with open(pid_file, "w") as f:
        f.write(f"{proc.pid}\n")
    ready = False
    deadline = time.monotonic() + START_TIMEOUT_S
    try:
        while not ready and time.monotonic() < deadline and proc.poll() is None:
            try:
                ready = b"READY=1" in sock.recv(4096).split(b"\n")
            except socket.timeout:
                pass
    finally:
        sock.close()
        os.unlink(sock_path)
    if ready:
        return 0
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
    return 1


if __name__ == "__main__":
    sys.exit(main())
