#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Capture on one interface for a bounded time (AF_PACKET, no tcpdump) and
report, as JSON: frames seen, UDP datagrams to a port (by source address,
IPv4 or IPv6),
and how many frames contain a byte pattern. SIGTERM ends it early, with the
report: for a test whose traffic is over before SECONDS are.

    capture.py IFACE SECONDS UDP_PORT[,UDP_PORT...] PATTERN_HEX
"""
import json
import signal
import socket
import struct
import sys
import time

iface, secs, pattern = sys.argv[1], float(sys.argv[2]), bytes.fromhex(sys.argv[4])
ports = {int(p) for p in sys.argv[3].split(",")}
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
s.bind((iface, 0))
s.settimeout(0.2)
# An L3 device (wireguard) has no Ethernet header.
l2 = 14 if open(f"/sys/class/net/{iface}/type").read().strip() == "1" else 0
out = {"frames": 0, "udp": {}, "pattern": 0}
stopped = []
signal.signal(signal.SIGTERM, lambda *_: stopped.append(1))
print("ready", file=sys.stderr, flush=True)
end = time.monotonic() + secs


def count(f):
    out["frames"] += 1
    if pattern in f:
        out["pattern"] += 1
    ip = f[l2:]
    if len(ip) >= 28 and ip[0] >> 4 == 4 and ip[9] == 17:
        ihl = (ip[0] & 15) * 4
        dport = struct.unpack("!H", ip[ihl + 2:ihl + 4])[0]
        if dport in ports:
            src = socket.inet_ntoa(ip[12:16])
            out["udp"][src] = out["udp"].get(src, 0) + 1
    # IPv6 with UDP right after the fixed header (no extension headers).
    elif len(ip) >= 48 and ip[0] >> 4 == 6 and ip[6] == 17:
        dport = struct.unpack("!H", ip[42:44])[0]
        if dport in ports:
            src = socket.inet_ntop(socket.AF_INET6, ip[8:24])
            out["udp"][src] = out["udp"].get(src, 0) + 1


while time.monotonic() < end and not stopped:
    try:
        count(s.recv(65535))
    except socket.timeout:
        continue
# What the socket queued before the end is counted too.
s.setblocking(False)
while True:
    try:
        count(s.recv(65535))
    except BlockingIOError:
        break
print(json.dumps(out), flush=True)
