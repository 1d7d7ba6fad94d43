# SPDX-License-Identifier: Apache-2.0
# Health prober for the "the loop never waits" tests: python3 probe.py PORT
# SECONDS OUT. For SECONDS, GET /healthz every 50 ms (each answer must come
# within 100 ms, else it counts as late) and /metrics every 500 ms (the
# largest flannel_loop_lag_max_seconds seen is kept). Writes "started"
# to OUT first, then at the end one line:
#   probes=N late=N failed=N max_ms=F max_lag_s=F lag_samples=N
import socket
import sys
import time

port, seconds, out = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
LIMIT = 0.1


def get(path, timeout):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.settimeout(timeout)
        s.sendall(("GET %s HTTP/1.0\r\n\r\n" % path).encode())
        data = b""
        while True:
            b = s.recv(65536)
            if not b:
                return data
            data += b
    finally:
        s.close()


with open(out, "w", buffering=1) as f:
    f.write("started\n")
    probes = late = failed = lag_samples = 0
    max_ms = max_lag = 0.0
    end = time.monotonic() + seconds
    next_metrics = 0.0
    while time.monotonic() < end:
        t0 = time.monotonic()
        try:
            ok = get("/healthz", 2.0).startswith(b"HTTP/1.0 200")
        except OSError:
            ok = False
        dt = time.monotonic() - t0
        probes += 1
        max_ms = max(max_ms, dt * 1000)
        if not ok:
            failed += 1
        elif dt > LIMIT:
            late += 1
        if t0 >= next_metrics:
            next_metrics = t0 + 0.5
            try:
                for line in get("/metrics", 2.0).decode().splitlines():
                    if line.startswith("flannel_loop_lag_max_seconds "):
                        max_lag = max(max_lag, float(line.split()[1]))
                        lag_samples += 1
            except OSError:
                failed += 1
        time.sleep(0.05)
    f.write(
        "probes=%d late=%d failed=%d max_ms=%.1f max_lag_s=%.6f lag_samples=%d\n"
        % (probes, late, failed, max_ms, max_lag, lag_samples)
    )
