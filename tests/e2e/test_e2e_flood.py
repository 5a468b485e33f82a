"""End-to-end, issue 14 item 3: NAS traffic is not amplified into CA load.
A flood of provisioning requests with random DeviceIDs from one address
causes at most burst + rate x time (+ the workers in flight) CA lookups,
counted by ca-server's metrics and by corehook's; a known device is
revalidated with If-None-Match (304), a revoked one is refused at once, and
a refused DeviceID is answered from the negative cache without a lookup.
Exit 77 (skipped) until all three programs are built."""
import collections
import os
import random
import re
import select
import socket
import string
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import World, prog, run  # noqa: E402

ILLEGAL_UE, ILLEGAL_ME, SERVED, CONGESTION = 3, 6, 9, 22
LIMITS = {"source_refusals_per_minute": 600, "source_burst": 20,
          "device_fetches_per_minute": 60, "device_burst": 10}
WORKERS = 16  # corehook's default worker count: fetches that can pass at once


def lookups(text):
    """ca-server's device lookups (GET /devices/{id}) by status."""
    out = collections.Counter()
    for st, n in re.findall(r'^provca_http_requests_total\{route="/devices/\{id\}",'
                            r'status="([^"]+)"\} (\d+)$', text, re.M):
        out[st] += int(n)
    return out


def metric(text, series):
    m = re.search(r"^%s (\d+)$" % re.escape(series), text, re.M)
    if m is None:
        raise AssertionError("%s missing from corehook's metrics" % series)
    return int(m.group(1))


def cause_of(data):
    """The 5GMM cause of a Registration reject (plain 5GMM: EPD, SHT,
    type 0x44, cause)."""
    if len(data) >= 4 and data[0] == 0x7E and data[2] == 0x44:
        return data[3]
    return None


def capture_request(device, timeout=20):
    """The provisioning Registration request ueclient sends (nobody answers)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.settimeout(timeout)
    p = subprocess.Popen([prog("ueclient"), "attach", "--state", device.dir, "--json",
                          "--core", "127.0.0.1:%d" % s.getsockname()[1],
                          "--timeout-ms", "2000", "--retransmits", "0", "--attempt-ms", "3000"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        data, _ = s.recvfrom(65535)
    finally:
        p.terminate()
        p.wait(timeout=20)
        s.close()
    return data


def flood(port, template, dev_id, n, nsock=50, wait=30.0, same=None):
    """n requests, each naming a fresh random DeviceID of dev_id's length
    (or the DeviceID `same`), from nsock sockets of one address, one
    request in flight per socket; the causes answered, in order of
    arrival."""
    socks = []
    for _ in range(nsock):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        s.connect(("127.0.0.1", port))
        s.setblocking(False)
        socks.append(s)
    alphabet = string.ascii_letters + string.digits
    sent, causes, busy = 0, [], {}
    try:
        while sent < n or busy:
            for s in socks:
                if s not in busy and sent < n:
                    rid = same or "".join(random.choice(alphabet) for _ in dev_id).encode()
                    s.send(template.replace(dev_id, rid))
                    busy[s] = time.time()
                    sent += 1
            ready, _, _ = select.select(list(busy), [], [], 1.0)
            for s in ready:
                causes.append(cause_of(s.recv(65535)))
                del busy[s]
            for s, t in list(busy.items()):
                if time.time() - t > wait:
                    raise AssertionError("no answer within %.0f s" % wait)
    finally:
        for s in socks:
            s.close()
    return causes


class Amplification(unittest.TestCase):
    def setUp(self):
        self.w = World()
        self.addCleanup(self.w.close)
        self.ca = self.w.ca()

    def test_random_device_id_flood_causes_bounded_ca_fetches(self):
        core = self.w.core("core1", self.ca, config_extra={"rate_limit": LIMITS})
        d = self.w.device("template", self.ca)
        dev_id = d.enroll()["device_id"].encode()
        template = capture_request(d)
        self.assertEqual(template.count(dev_id), 1, template)
        n = 2000 if harness.SANITIZE else 10000
        ca0, m0 = lookups(self.ca.metrics()), core.metrics()
        t0 = time.time()
        causes = collections.Counter(flood(core.port, template, dev_id, n))
        elapsed = time.time() - t0
        ca1, m1 = lookups(self.ca.metrics()), core.metrics()
        fetched = sum(ca1.values()) - sum(ca0.values())
        fetched404 = ca1["404"] - ca0["404"]
        print("flood: %d datagrams in %.1f s, %d CA lookups, causes %s"
              % (n, elapsed, fetched, dict(causes)), file=sys.stderr)
        # every request answered: unknown (a real 404) or congestion
        self.assertEqual(sum(causes.values()), n)
        self.assertEqual(set(causes), {ILLEGAL_UE, CONGESTION})
        # the CA saw only 404 lookups, at most burst + rate x time + workers
        self.assertEqual(fetched, fetched404)
        bound = LIMITS["source_burst"] + LIMITS["source_refusals_per_minute"] / 60.0 * elapsed + WORKERS
        self.assertLessEqual(fetched, bound)
        self.assertLess(fetched, n / 10)
        # corehook counts the same: each #3 a fetch, each #22 a rate limit
        self.assertEqual(causes[ILLEGAL_UE], fetched404)
        self.assertEqual(metric(m1, 'corehook_ca_context_total{source="fetched"}') -
                         metric(m0, 'corehook_ca_context_total{source="fetched"}'), fetched)
        self.assertEqual(metric(m1, 'corehook_ca_rate_limited_total{limit="source"}') -
                         metric(m0, 'corehook_ca_rate_limited_total{limit="source"}'),
                         causes[CONGESTION])
        self.assertEqual(metric(m1, 'corehook_provisionings_total{outcome="rate_limited"}') -
                         metric(m0, 'corehook_provisionings_total{outcome="rate_limited"}'),
                         causes[CONGESTION])
        self.assertEqual(metric(m1, 'corehook_ca_rate_limited_total{limit="device"}'), 0)

    def test_one_device_id_from_everywhere_is_bounded_by_its_bucket(self):
        # no negative cache and no source limit to speak of: only the
        # DeviceID's bucket (burst 5, 1/s) stands between the flood and the CA
        core = self.w.core("core1", self.ca, config_extra={
            "ca_cache": {"negative_ttl_seconds": 0},
            "rate_limit": {"source_refusals_per_minute": 6000000, "source_burst": 1000000,
                           "device_fetches_per_minute": 60, "device_burst": 5}})
        d = self.w.device("template", self.ca)
        dev_id = d.enroll()["device_id"].encode()
        template = capture_request(d)
        ghost = b"x" * len(dev_id)              # never enrolled: 404
        ca0 = lookups(self.ca.metrics())
        t0 = time.time()
        # one socket per request: the same bytes twice on one socket would
        # be a retransmission, answered from the session's cache
        causes = collections.Counter(flood(core.port, template, dev_id, 300, nsock=300,
                                           same=ghost))
        elapsed = time.time() - t0
        fetched = sum(lookups(self.ca.metrics()).values()) - sum(ca0.values())
        m = core.metrics()
        self.assertEqual(sum(causes.values()), 300)
        self.assertEqual(causes[ILLEGAL_UE], fetched)
        # the token is taken before the request: no overshoot
        self.assertGreaterEqual(fetched, 5)
        self.assertLessEqual(fetched, 5 + int(elapsed) + 1)
        self.assertEqual(metric(m, 'corehook_ca_rate_limited_total{limit="device"}'),
                         causes[CONGESTION])
        self.assertEqual(metric(m, 'corehook_ca_rate_limited_total{limit="source"}'), 0)

    def test_known_device_revalidated_revoked_refused_at_once_unknown_remembered(self):
        core = self.w.core("core1", self.ca)
        d = self.w.device("known", self.ca)
        info = d.enroll()
        rc, out = d.attach(core.address)
        self.assertEqual(rc, 0, out)
        self.assertTrue(out["provisioned"])
        driver = os.path.join(harness.BIN, "ch_uedriver")
        if not os.path.exists(driver):
            self.skipTest("ch_uedriver not built")
        key = os.path.join(d.dir, "device.key")

        def provision(url, dev):
            p = run(driver, "provision", core.address, url, dev, key, self.ca.root, check=False)
            m = re.search(r"^cause (\d+)$", p.stdout, re.M)
            self.assertIsNotNone(m, p.stdout + p.stderr)
            return int(m.group(1))

        def counts():
            m = core.metrics()
            return (lookups(self.ca.metrics()),
                    {k: metric(m, 'corehook_ca_context_total{source="%s"}' % k)
                     for k in ("negative_cache", "positive_cache", "revalidated", "fetched")})

        url, dev = info["certificate_url"], info["device_id"]
        ca0, c0 = counts()
        # the same device again: ca-server says no-cache, so corehook asks
        # with If-None-Match and the CA answers 304 (no body, no verify)
        self.assertEqual(provision(url, dev), SERVED)
        ca1, c1 = counts()
        self.assertEqual(ca1["304"] - ca0["304"], 1)
        self.assertEqual(sum(ca1.values()) - sum(ca0.values()), 1)
        self.assertEqual(c1["revalidated"] - c0["revalidated"], 1)
        self.assertEqual(c1["fetched"], c0["fetched"])
        # revoked: refused on the very next request (new ETag → 200, revoked)
        self.ca.revoke(dev)
        self.assertEqual(provision(url, dev), ILLEGAL_ME)
        ca2, c2 = counts()
        self.assertEqual(ca2["200"] - ca1["200"], 1)
        # and remembered: the next refusal asks the CA nothing
        self.assertEqual(provision(url, dev), ILLEGAL_ME)
        ca3, c3 = counts()
        self.assertEqual(ca3, ca2)
        self.assertEqual(c3["negative_cache"] - c2["negative_cache"], 1)
        # an unknown DeviceID: one 404, then remembered
        unknown = url[:-len(dev)] + "acme-NOSUCHDEVICE000"
        self.assertEqual(provision(unknown, "acme-NOSUCHDEVICE000"), ILLEGAL_UE)
        self.assertEqual(provision(unknown, "acme-NOSUCHDEVICE000"), ILLEGAL_UE)
        ca4, c4 = counts()
        self.assertEqual(ca4["404"] - ca3["404"], 1)
        self.assertEqual(c4["negative_cache"] - c3["negative_cache"], 1)
        self.assertIn("remembered, no CA request", core.log())


if __name__ == "__main__":
    harness.require_programs()
    unittest.main(verbosity=2)
