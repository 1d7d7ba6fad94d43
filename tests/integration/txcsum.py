#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Print "on" or "off": a device's TX checksum offload as the kernel
reports it (ETHTOOL_GTXCSUM, what `ethtool -k` shows as tx-checksumming),
read here without the ethtool binary; with on/off, set it first
(ETHTOOL_STXCSUM, as `ethtool -K IFACE tx on|off`).

    txcsum.py IFACE [on|off]
"""
import ctypes
import fcntl
import socket
import struct
import sys

SIOCETHTOOL = 0x8946
ETHTOOL_GTXCSUM = 0x16
ETHTOOL_STXCSUM = 0x17


def ethtool(sock, cmd, value):
    data = ctypes.create_string_buffer(struct.pack("II", cmd, value), 8)
    ifr = struct.pack("16sP", sys.argv[1].encode(), ctypes.addressof(data))
    fcntl.ioctl(sock.fileno(), SIOCETHTOOL, ifr)
    return struct.unpack("II", data.raw)[1]


with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
    if len(sys.argv) > 2:
        ethtool(s, ETHTOOL_STXCSUM, 1 if sys.argv[2] == "on" else 0)
    print("on" if ethtool(s, ETHTOOL_GTXCSUM, 0) else "off")
