# SPDX-License-Identifier: Apache-2.0
# Writer for bench/fanout.sh: COUNT lease puts, one request each, through
# etcd's JSON gateway on one kept-alive connection, paced at PACE_MS (an
# absolute schedule: a late put does not shift the ones after it).
#
#	python3 fanout_put.py grant HOST PORT TTL            prints the new lease ID
#	python3 fanout_put.py put HOST PORT PREFIX COUNT PACE_MS LEASE TYPE
#
# Put i writes <prefix>/subnets/10.<128 + i / 256>.<i % 256>.0-24 with
# PublicIP 10.4.<i / 256>.<i % 256 + 1> and BackendType TYPE, attached to
# LEASE. Prints "puts <count> <first put sent, ms> <last put acknowledged,
# ms>" (CLOCK_MONOTONIC) and exits 1 on the first failed request.
import base64
import http.client
import json
import sys
import time


def b64(s):
    return base64.b64encode(s.encode()).decode()


def post(conn, path, body):
    conn.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
    resp = conn.getresponse()
    answer = resp.read()
    if resp.status != 200 or b'"error"' in answer:
        sys.exit("%s failed: %d %s" % (path, resp.status, answer[:300]))
    return json.loads(answer)


def now_ms():
    return time.clock_gettime(time.CLOCK_MONOTONIC) * 1000.0


mode, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
conn = http.client.HTTPConnection(host, port, timeout=30)
if mode == "grant":
    print(post(conn, "/v3/lease/grant", {"TTL": int(sys.argv[4])})["ID"])
    sys.exit(0)

prefix, count, pace, lease, btype = sys.argv[4], int(sys.argv[5]), float(sys.argv[6]), sys.argv[7], sys.argv[8]
reqs = []
for i in range(count):
    key = "%s/subnets/10.%d.%d.0-24" % (prefix, 128 + i // 256, i % 256)
    value = json.dumps({"PublicIP": "10.4.%d.%d" % (i // 256, i % 256 + 1), "PublicIPv6": None,
                        "BackendType": btype, "BackendData": None}, separators=(",", ":"))
    reqs.append({"key": b64(key), "value": b64(value), "lease": lease})
conn.connect()
t0 = now_ms()
for i, req in enumerate(reqs):
    delay = t0 + i * pace - now_ms()
    if delay > 0:
        time.sleep(delay / 1000.0)
    post(conn, "/v3/kv/put", req)
print("puts %d %.0f %.0f" % (count, t0, now_ms()))
