"""Bodies for bench/ingest.sh: the same telemetry points as line protocol (5,000 lines a body),
Arc MessagePack columnar (10,000 records a body: one columnar map per measurement) and Arc
MessagePack rows (5,000 a body), written as DIR/{lp,columnar,rows}_<i>.body. Points: three
measurements in turn as in the seed's load test (cpu: usage_user, usage_system, usage_idle,
load; mem: used, free, used_percent; disk: read_bytes, write_bytes, io_time), tags host (HOSTS
of them, 1,000 unless given) and region (4), nanosecond times 1 ms apart, every body a fresh
stretch of time. Seeded: every run, and every server in a run, gets the same bytes.

Usage: python3 bench/ingest_gen.py DIR [BODIES] [HOSTS]"""
import os
import random
import struct
import sys

T0 = 1765000000 * 10**9
REGIONS = ["us-east", "us-west", "eu-central", "ap-south"]


def mp(v, out):
    """A minimal MessagePack encoder (the spec's smallest forms) for the types used here."""
    if v is None:
        out += b"\xc0"
    elif v is True or v is False:
        out += b"\xc3" if v else b"\xc2"
    elif isinstance(v, int):
        if 0 <= v < 128:
            out += bytes([v])
        elif 0 <= v < 2**32:
            out += b"\xce" + struct.pack(">I", v)
        elif 0 <= v:
            out += b"\xcf" + struct.pack(">Q", v)
        elif v >= -32:
            out += struct.pack(">b", v)
        else:
            out += b"\xd3" + struct.pack(">q", v)
    elif isinstance(v, float):
        out += b"\xcb" + struct.pack(">d", v)
    elif isinstance(v, str):
        b = v.encode()
        if len(b) < 32:
            out += bytes([0xa0 | len(b)])
        elif len(b) < 256:
            out += b"\xd9" + bytes([len(b)])
        else:
            out += b"\xdb" + struct.pack(">I", len(b))
        out += b
    elif isinstance(v, (list, tuple)):
        out += bytes([0x90 | len(v)]) if len(v) < 16 else b"\xdd" + struct.pack(">I", len(v))
        for x in v:
            mp(x, out)
    elif isinstance(v, dict):
        out += bytes([0x80 | len(v)]) if len(v) < 16 else b"\xdf" + struct.pack(">I", len(v))
        for k, x in v.items():
            mp(k, out)
            mp(x, out)
    else:
        raise TypeError(type(v))
    return out


FIELDS = {"cpu": [("usage_user", 100.0), ("usage_system", 50.0), ("usage_idle", 100.0),
                  ("load", 64)],
          "mem": [("used", 1 << 34), ("free", 1 << 34), ("used_percent", 100.0)],
          "disk": [("read_bytes", 1 << 40), ("write_bytes", 1 << 40), ("io_time", 1000.0)]}
MEAS = ["cpu", "mem", "disk"]


def points(rng, start, n, hosts):
    for i in range(start, start + n):
        h = rng.randrange(hosts)
        m = MEAS[i % 3]
        p = {"m": m, "t": T0 + i * 10**6, "host": "host_%d" % h, "region": REGIONS[h % 4]}
        for k, top in FIELDS[m]:
            p[k] = round(rng.uniform(0, top), 2) if isinstance(top, float) else rng.randrange(top)
        yield p


def line(p):
    fields = ",".join("%s=%r" % (k, p[k]) if isinstance(p[k], float) else "%s=%di" % (k, p[k])
                      for k, _ in FIELDS[p["m"]])
    return "%s,host=%s,region=%s %s %d\n" % (p["m"], p["host"], p["region"], fields, p["t"])


def main():
    d = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 16
    hosts = int(sys.argv[3]) if len(sys.argv) > 3 else 1000
    os.makedirs(d, exist_ok=True)
    rng = random.Random(12)
    at = 0
    for b in range(n):
        ps = list(points(rng, at, 10000, hosts))
        at += 10000
        with open(os.path.join(d, "lp_%d.body" % b), "w") as f:
            f.write("".join(line(p) for p in ps[:5000]))
        maps = []
        for m in MEAS:
            mine = [p for p in ps if p["m"] == m]
            cols = {"time": [p["t"] for p in mine]}
            for k in ["host", "region"] + [k for k, _ in FIELDS[m]]:
                cols[k] = [p[k] for p in mine]
            maps.append({"m": m, "columns": cols})
        with open(os.path.join(d, "columnar_%d.body" % b), "wb") as f:
            f.write(mp(maps, bytearray()))
        rows = [{"m": p["m"], "t": p["t"], "tags": {"host": p["host"], "region": p["region"]},
                 "fields": {k: p[k] for k, _ in FIELDS[p["m"]]}} for p in ps[:5000]]
        with open(os.path.join(d, "rows_%d.body" % b), "wb") as f:
            f.write(mp({"batch": rows}, bytearray()))


if __name__ == "__main__":
    main()
