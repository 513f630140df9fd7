#!/usr/bin/env python3
"""Fake DNS server for podid's resolver tests (stdlib only).

    python3 tests/fakes/dns.py --zone FILE [--listen ADDR]... [--port P]
        [--log FILE] [--mute ADDR]...

Serves UDP and TCP (2-byte length framing) on every --listen address
(default 127.0.0.1), all on one port: --port, or 0 for one the kernel
picks.  When ready it prints the port and a newline on stdout.  Every
query is appended to --log as one line "ADDR PROTO NAME TYPE" (PROTO udp or
tcp, NAME as received, TYPE a number), flushed at once, so a test can
assert which names were asked, in which order, over what.  A --mute
address receives and logs queries but never answers (a dead server).

The zone (JSON) maps lower-case names to objects:
    {"A": ["10.0.0.1", ...]}   addresses ([] is no data: NOERROR, no
                               answer, an SOA in authority)
    "ttl": N                   TTL of the records (default 60)
    "CNAME": "other.name"      a CNAME; the answer goes on with the
                               target's records from the zone (chains)
    "rcode": N                 answer with that rcode and nothing else
                               (2 SERVFAIL, 5 REFUSED)
    "tc": true                 over UDP: TC=1 and no records; TCP: all
    "drop": true               never answered (a timeout)
    "spoof": true              over UDP, first an answer with another ID,
                               then one to another question, then the
                               real one
The key "_soa" gives {"ttl": N, "minimum": M} for the SOA of negative
answers (default 30 and 2); {"none": true} leaves it out.  Any name not in
the zone is NXDOMAIN.
"""
import argparse
import json
import socket
import struct
import sys
import threading

ZONE = {}
LOG_LOCK = threading.Lock()
LOG = None


def log(addr, proto, name, qtype):
    if LOG is None:
        return
    with LOG_LOCK:
        LOG.write("%s %s %s %d\n" % (addr, proto, name, qtype))
        LOG.flush()


def parse_query(msg):
    """(id, flags, qname as received, qtype, question bytes) or None."""
    if len(msg) < 12:
        return None
    qid, flags, qd = struct.unpack("!HHH", msg[:6])
    if qd != 1:
        return None
    pos, labels = 12, []
    while True:
        if pos >= len(msg):
            return None
        n = msg[pos]
        pos += 1
        if n == 0:
            break
        if n > 63 or pos + n > len(msg):
            return None
        labels.append(msg[pos:pos + n].decode("ascii", "replace"))
        pos += n
    if pos + 4 > len(msg):
        return None
    qtype = struct.unpack("!H", msg[pos:pos + 2])[0]
    return qid, flags, ".".join(labels), qtype, msg[12:pos + 4]


def wire_name(name):
    out = b""
    for label in name.rstrip(".").split("."):
        out += bytes([len(label)]) + label.encode("ascii")
    return out + b"\0"


def rr(owner, rtype, ttl, rdata):
    return owner + struct.pack("!HHIH", rtype, 1, ttl, len(rdata)) + rdata


def soa_record():
    soa = ZONE.get("_soa", {})
    if soa.get("none"):
        return []
    rdata = (wire_name("ns.test") + wire_name("hostmaster.test") +
             struct.pack("!IIIII", 1, 3600, 600, 86400,
                         soa.get("minimum", 2)))
    return [rr(wire_name("test"), 6, soa.get("ttl", 30), rdata)]


def records(qname, qtype):
    """(rcode, answers, authority) for the name, following CNAMEs."""
    name, answers, owner = qname.lower().rstrip("."), [], b"\xc0\x0c"
    for _ in range(16):
        entry = ZONE.get(name)
        if entry is None:
            return (3 if not answers else 0), answers, soa_record()
        ttl = entry.get("ttl", 60)
        if "CNAME" in entry:
            answers.append(rr(owner, 5, ttl, wire_name(entry["CNAME"])))
            name = entry["CNAME"].lower().rstrip(".")
            owner = wire_name(name)
            continue
        addrs = entry.get("A", []) if qtype == 1 else []
        for a in addrs:
            answers.append(rr(owner, 1, ttl, socket.inet_aton(a)))
        return 0, answers, ([] if addrs else soa_record())
    return 2, [], []


def answer(query, proto):
    """The response messages to send for a query, in order."""
    qid, flags, qname, qtype, question = query
    entry = ZONE.get(qname.lower().rstrip("."), {})
    if entry.get("drop"):
        return []
    rd = flags & 0x0100
    if "rcode" in entry:
        head = struct.pack("!HHHHHH", qid, 0x8080 | rd | entry["rcode"],
                           1, 0, 0, 0)
        return [head + question]
    if entry.get("tc") and proto == "udp":
        head = struct.pack("!HHHHHH", qid, 0x8280 | rd, 1, 0, 0, 0)
        return [head + question]
    rcode, ans, auth = records(qname, qtype)
    head = struct.pack("!HHHHHH", qid, 0x8080 | rd | rcode, 1, len(ans),
                       len(auth), 0)
    msg = head + question + b"".join(ans) + b"".join(auth)
    out = []
    if entry.get("spoof") and proto == "udp":
        out.append(struct.pack("!H", (qid + 1) & 0xffff) + msg[2:])
        other = wire_name("other.test") + question[-4:]
        out.append(head + other + b"".join(ans))
    return out + [msg]


def serve_udp(sock, addr, mute):
    while True:
        msg, peer = sock.recvfrom(65535)
        query = parse_query(msg)
        if query is None:
            continue
        log(addr, "udp", query[2], query[3])
        if mute:
            continue
        for m in answer(query, "udp"):
            sock.sendto(m, peer)


def recv_exact(conn, n):
    data = b""
    while len(data) < n:
        part = conn.recv(n - len(data))
        if not part:
            return None
        data += part
    return data


def serve_tcp_conn(conn, addr, mute):
    with conn:
        while True:
            head = recv_exact(conn, 2)
            if head is None:
                return
            msg = recv_exact(conn, struct.unpack("!H", head)[0])
            query = parse_query(msg) if msg is not None else None
            if query is None:
                return
            log(addr, "tcp", query[2], query[3])
            if mute:
                continue
            for m in answer(query, "tcp"):
                conn.sendall(struct.pack("!H", len(m)) + m)


def serve_tcp(sock, addr, mute):
    while True:
        conn, _ = sock.accept()
        threading.Thread(target=serve_tcp_conn, args=(conn, addr, mute),
                         daemon=True).start()


def bind_all(addrs, port):
    """UDP and TCP sockets on every address, one port for all."""
    for _ in range(50):
        socks, p = [], port
        try:
            for a in addrs:
                u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                u.bind((a, p))
                p = u.getsockname()[1]
                t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                t.bind((a, p))
                t.listen(16)
                socks.append((a, u, t))
            return p, socks
        except OSError:
            for _, u, t in socks:
                u.close()
                t.close()
            if port:
                raise
    raise OSError("no free port")


def main():
    global LOG, ZONE
    ap = argparse.ArgumentParser()
    ap.add_argument("--zone", required=True)
    ap.add_argument("--listen", action="append")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--log")
    ap.add_argument("--mute", action="append", default=[])
    args = ap.parse_args()
    with open(args.zone) as f:
        ZONE = {k.lower().rstrip("."): v for k, v in json.load(f).items()}
    if args.log:
        LOG = open(args.log, "a")
    port, socks = bind_all(args.listen or ["127.0.0.1"], args.port)
    for a, u, t in socks:
        mute = a in args.mute
        threading.Thread(target=serve_udp, args=(u, a, mute),
                         daemon=True).start()
        threading.Thread(target=serve_tcp, args=(t, a, mute),
                         daemon=True).start()
    sys.stdout.write("%d\n" % port)
    sys.stdout.flush()
    threading.Event().wait()


if __name__ == "__main__":
    main()
