# SPDX-License-Identifier: Apache-2.0
# Write junk under <prefix>/subnets/ through etcd's JSON gateway, in
# transactions: python3 flood.py HOST PORT PREFIX. Prints how many keys of
# each kind it wrote. Test data only; see test_flood.sh.
import base64
import http.client
import json
import sys

host, port, prefix = sys.argv[1], int(sys.argv[2]), sys.argv[3]
conn = http.client.HTTPConnection(host, port, timeout=30)


def b64(s):
    return base64.b64encode(s.encode() if isinstance(s, str) else s).decode()


def txn(puts):
    body = json.dumps({"success": [{"request_put": {"key": b64(k), "value": b64(v)}} for k, v in puts]})
    conn.request("POST", "/v3/kv/txn", body, {"Content-Type": "application/json"})
    resp = conn.getresponse()
    answer = resp.read()
    if resp.status != 200 or b'"error"' in answer:
        sys.exit("txn failed: %d %s" % (resp.status, answer[:300]))


def batches(items, n):
    for i in range(0, len(items), n):
        txn(items[i:i + n])


subnet = lambda i: "%s/subnets/10.%d.%d.0-24" % (prefix, 100 + i // 256, i % 256)
kinds = {
    # values over the daemon's 64 KiB cap (first: its warning is not rate limited away)
    "huge value": [(subnet(5750 + i), "{\"PublicIP\":\"%s\"}" % ("1" * 70000)) for i in range(250)],
    # names no subnet key parser accepts
    "bad key": [("%s/subnets/junk-%d" % (prefix, i), "x") for i in range(4000)],
    # good keys, values that are not a lease
    "bad value": [(subnet(i), "not json {%d" % i) for i in range(3000)],
    # vxlan leases whose BackendData is no good
    "bad vxlan data": [(subnet(3000 + i), json.dumps({"PublicIP": "10.201.%d.%d" % (i // 256, i % 256),
                                                      "PublicIPv6": None, "BackendType": "vxlan",
                                                      "BackendData": {"VNI": 1, "VtepMAC": "zz"}}))
                       for i in range(2750)],
}
for name, items in kinds.items():
    batches(items, 10 if name == "huge value" else 100)
    print("%s: %d" % (name, len(items)))
