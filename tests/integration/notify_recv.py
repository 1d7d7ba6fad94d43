# SPDX-License-Identifier: Apache-2.0
# A stand-in for systemd's notification socket: python3 notify_recv.py
# SOCKET WATCHED OUT. Binds a unix datagram socket at SOCKET (a path, or
# '@name' for an abstract one) and appends one line to OUT per datagram:
# "<1|0> <state>", 1 when the file WATCHED already existed on arrival,
# the state's newlines shown as '|'. Writes "bound" first. Runs until killed.
import os
import socket
import sys

path, watched, out = sys.argv[1], sys.argv[2], sys.argv[3]
sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
sock.bind("\0" + path[1:] if path.startswith("@") else path)
with open(out, "a", buffering=1) as f:
    f.write("bound\n")
    while True:
        msg = sock.recv(4096)
        seen = 1 if os.path.exists(watched) else 0
        f.write("%d %s\n" % (seen, msg.decode(errors="replace").replace("\n", "|")))
