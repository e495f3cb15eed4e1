"""Launch day, rehearsed: the release binary behind Caddy (https, `tls internal`, TRUSTED_PROXIES),
a real SMTP sink, PEOPLE confirmed pre-enrollees who each open the launch email, sign up, confirm,
log in, pay at the built-in test checkout, open lesson 1 and mark it complete, while VISITORS
anonymous visitors browse, every one of them from its own 127.x.y.z address.

Started by run.sh (which checks the tools); see README.md beside this file for the settings.
"""
import asyncio
import html
import html.parser
import json
import os
import random
import re
import resource
import shutil
import signal
import socket
import sqlite3
import ssl
import subprocess
import sys
import tempfile
import types
import time
import urllib.parse
from dataclasses import dataclass, field

import aiohttp
import aiohttp.abc

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from smtp_sink import Sink  # noqa: E402

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
SMOKE = os.environ.get("SMOKE", "") not in ("", "0")


def env_num(name, default, kind=int):
    raw = os.environ.get(name, "")
    return kind(raw) if raw else default


BIN = os.path.abspath(os.environ.get("LEARNWELL_BIN") or os.path.join(REPO, "target/release/learnwell"))
PEOPLE = env_num("PEOPLE", 20 if SMOKE else 500)
VISITORS = env_num("VISITORS", 100 if SMOKE else 2000)
# People open the launch email spread over WINDOW seconds after the launch; visitors arrive over
# the same window. THINK scales every pause between two steps of one person (1.0: a brisk human).
WINDOW = env_num("WINDOW", 20.0 if SMOKE else 360.0, float)
THINK = env_num("THINK", 0.15 if SMOKE else 0.5, float)
SETUPS = [s for s in os.environ.get("SETUPS", "sqlite" if SMOKE else "sqlite,postgres").split(",") if s]
PG_BASE = os.environ.get("PG_URL", "postgres://postgres@127.0.0.1:5432")
PG_DB = "learnwell_rehearsal"
KEEP = os.environ.get("KEEP", "") not in ("", "0")
PROGRAM = "gut-foundations"
SEED = env_num("SEED", 12)
# How long one person waits for an email before that counts as an error.
MAIL_WAIT = env_num("MAIL_WAIT", 180.0, float)
LAUNCH_SUBJECT = r"is open: you can enroll now"
VERIFY_SUBJECT = r"^Confirm your email"
RECEIPT_SUBJECT = r"^Your receipt"
# Steps whose work is a password hash by design (argon2id on a fixed pool): reported, but the
# 100 ms page goal is about the other steps.
HASH_STEPS = {"sign up (POST)", "log in (POST)", "instructor log in"}
# The instructor's steps happen once (Launch writes every launch email in one transaction): shown,
# but not part of the crowd's page goal either.
ONE_OFF_STEPS = {"instructor log-in page", "studio", "press Launch"}

WORDS = ("amber harbor lantern meadow quartz violet walnut cobalt fennel juniper marble orchid pepper "
         "saffron thistle willow falcon glacier hollow kettle lagoon mosaic nectar otter pebble quiver "
         "raven summit timber umbra velvet wander yonder zephyr bramble cinder drizzle ember fjord "
         "gravel hazel indigo jasper kelp lilac mango nutmeg oyster").split()
FIRST = "Maria Jon Aisha Chen Lena Tomas Priya Omar Ines Felix Sara Yusuf Nora Pablo Mei Ruth Ivan Leila".split()
LAST = "Okafor Lindqvist Haddad Moreau Tanaka Brennan Ferreira Kowalski Mensah Novak Quist Rahman Silva".split()


def now_iso():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def loadavg():
    with open("/proc/loadavg") as f:
        return tuple(float(x) for x in f.read().split()[:3])


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pct(values, p):
    if not values:
        return None
    v = sorted(values)
    k = max(0, min(len(v) - 1, int(round(p / 100 * len(v) + 0.5)) - 1))
    return v[k]


def ms(x):
    return "–" if x is None else (f"{x * 1000:.0f} ms" if x >= 0.01 else f"{x * 1000:.1f} ms")


def secs(x):
    return "–" if x is None else f"{x:.1f} s"


class StepFailed(Exception):
    pass


class LoopbackResolver(aiohttp.abc.AbstractResolver):
    """`localhost` is 127.0.0.1 (IPv4 only: the client binds 127.x.y.z source addresses)."""

    async def resolve(self, host, port=0, family=socket.AF_INET):
        return [{"hostname": host, "host": "127.0.0.1", "port": port, "family": socket.AF_INET,
                 "proto": 0, "flags": socket.AI_NUMERICHOST}]

    async def close(self):
        pass


class FormParser(html.parser.HTMLParser):
    """The forms of a page: action, method and their named inputs (checkboxes ticked)."""

    def __init__(self):
        super().__init__()
        self.forms = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.forms.append({"action": a.get("action", ""), "method": (a.get("method") or "get").lower(),
                               "fields": []})
        elif tag in ("input", "textarea", "select") and self.forms and a.get("name"):
            kind = (a.get("type") or "text").lower()
            if kind in ("submit", "button", "reset", "file"):
                return
            value = a.get("value") or ("on" if kind == "checkbox" else "")
            self.forms[-1]["fields"].append((a["name"], value))


def forms_of(text):
    p = FormParser()
    p.feed(text)
    return p.forms


@dataclass
class Stats:
    name: str
    steps: dict = field(default_factory=dict)  # step -> [seconds]
    warm: dict = field(default_factory=dict)  # step -> [seconds, less the connection set-up]
    requests: int = 0
    errors: list = field(default_factory=list)  # (step, detail)
    too_many: int = 0
    statuses: dict = field(default_factory=dict)
    journeys_done: int = 0
    visits_done: int = 0
    launch_delays: list = field(default_factory=list)
    verify_delays: list = field(default_factory=list)
    receipt_delays: list = field(default_factory=list)
    rss: dict = field(default_factory=dict)  # label -> peak VmRSS kB
    hwm: dict = field(default_factory=dict)  # label -> VmHWM kB at the end
    loads: list = field(default_factory=list)
    loop_lag: list = field(default_factory=list)
    mail_counts: dict = field(default_factory=dict)
    db: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)
    wall: float = 0.0
    control: tuple = (None, None)  # (expected attempt of the first 429, attempt that got it)
    launch_to_last: float = 0.0
    driver_cpu: float = 0.0
    exits: dict = field(default_factory=dict)
    log_lines: dict = field(default_factory=dict)

    def record(self, step, seconds, status, connect=0.0):
        self.requests += 1
        self.steps.setdefault(step, []).append(seconds)
        # The same without opening a connection (TCP + TLS handshake with Caddy), when one was opened.
        self.warm.setdefault(step, []).append(seconds - connect)
        self.statuses[status] = self.statuses.get(status, 0) + 1

    def error(self, step, detail):
        self.errors.append((step, detail))
        if len(self.errors) <= 15:
            print(f"  ! {step}: {detail}", flush=True)


async def _connect_start(session, ctx, params):
    ctx.started = time.perf_counter()


async def _connect_end(session, ctx, params):
    if ctx.trace_request_ctx is not None:
        ctx.trace_request_ctx.connect += time.perf_counter() - ctx.started


CONNECT_TRACE = aiohttp.TraceConfig()
CONNECT_TRACE.on_connection_create_start.append(_connect_start)
CONNECT_TRACE.on_connection_create_end.append(_connect_end)


class Browser:
    """One person's browser: its own source address, cookie jar and keep-alive connections."""

    def __init__(self, run, ip):
        self.run = run
        self.ip = ip
        conn = aiohttp.TCPConnector(local_addr=(ip, 0), ssl=run.ssl, resolver=LoopbackResolver(), limit=6)
        self.s = aiohttp.ClientSession(
            connector=conn, cookie_jar=aiohttp.CookieJar(), trace_configs=[CONNECT_TRACE],
            timeout=aiohttp.ClientTimeout(total=60),
            headers={"User-Agent": "learnwell-launch-rehearsal", "Accept": "text/html,*/*"})

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        await self.s.close()

    def url(self, path):
        return path if path.startswith("http") else self.run.base + path

    async def go(self, step, method, path, data=None, expect=(200,), contains=None):
        stats = self.run.stats
        headers = {"Origin": self.run.base} if method == "POST" else {}
        timing = types.SimpleNamespace(connect=0.0)
        t0 = time.perf_counter()
        try:
            async with self.s.request(method, self.url(path), data=data, headers=headers,
                                      allow_redirects=False, trace_request_ctx=timing) as r:
                body = await r.read()
                status, location = r.status, r.headers.get("Location")
        except Exception as e:  # noqa: BLE001 - every failure is counted
            stats.requests += 1
            stats.error(step, f"{method} {path}: {type(e).__name__}: {e}")
            raise StepFailed from e
        stats.record(step, time.perf_counter() - t0, status, timing.connect)
        text = body.decode("utf-8", "replace")
        if status == 429:
            stats.too_many += 1
        if status not in expect:
            stats.error(step, f"{method} {path} from {self.ip}: {status} (wanted {expect}) {location or ''}")
            raise StepFailed
        if contains and not re.search(contains, text):
            stats.error(step, f"{method} {path}: the page lacks /{contains}/")
            raise StepFailed
        if location:
            location = urllib.parse.urljoin(self.run.base + "/", location)
        return status, location, text

    async def get(self, step, path, **kw):
        return await self.go(step, "GET", path, **kw)

    async def status_of_post(self, path, data):
        """A POST that is not counted in the crowd's numbers; returns its status."""
        async with self.s.post(self.url(path), data=data, headers={"Origin": self.run.base},
                               allow_redirects=False) as r:
            await r.read()
            return r.status

    async def post(self, step, path, data, **kw):
        return await self.go(step, "POST", path, data=data, **kw)


async def think(lo, hi):
    await asyncio.sleep(random.uniform(lo, hi) * THINK)


class Run:
    """One set-up: instances, Caddy, sink, and the crowd."""

    def __init__(self, kind, work):
        self.kind = kind  # "sqlite" | "postgres"
        self.work = work
        self.instances = []  # (label, Popen, port, log path)
        self.caddy = None
        self.sink = Sink()
        self.stats = Stats("SQLite, 1 instance" if kind == "sqlite" else "PostgreSQL, 2 instances")
        self.port = free_port()
        self.base = f"https://localhost:{self.port}"
        self.ssl = None
        self.lesson1 = None
        self.visitor_pages = []
        self.launch_at = None
        self.done = False
        if kind == "sqlite":
            self.db_url = f"sqlite://{work}/learnwell.db"
        else:
            self.db_url = f"{PG_BASE}/{PG_DB}"

    # ---- processes --------------------------------------------------------------------------

    def app_env(self, port, n):
        env = {k: v for k, v in os.environ.items() if not k.startswith(("STRIPE_", "SMTP_", "DATABASE_"))}
        env.update({
            "LEARNWELL_ADDR": f"127.0.0.1:{port}",
            "BASE_URL": self.base,
            "DATABASE_URL": self.db_url,
            "CONTENT_DIR": os.path.join(REPO, "course_content"),
            "DATA_DIR": os.path.join(self.work, f"data-{n}"),
            "SMTP_URL": f"smtp://127.0.0.1:{self.sink_port}",
            "TRUSTED_PROXIES": "127.0.0.1/32",
            "RUST_LOG": os.environ.get("RUST_LOG", "info"),
        })
        return env

    def cli(self, *args, stdin=None):
        r = subprocess.run([BIN, *args], env=self.app_env(0, 0), input=stdin, capture_output=True,
                           text=True, cwd=self.work, timeout=300)
        if r.returncode != 0:
            raise SystemExit(f"learnwell {' '.join(args)} failed ({r.returncode}):\n{r.stdout}{r.stderr}")
        return r.stdout

    def sql(self, statements):
        """Runs SQL on the set-up's database; returns the rows of the last statement."""
        if self.kind == "sqlite":
            con = sqlite3.connect(f"{self.work}/learnwell.db", timeout=30)
            try:
                rows = []
                with con:
                    for s in statements:
                        rows = con.execute(s).fetchall()
                return rows
            finally:
                con.close()
        script = ";\n".join(statements) + ";\n"
        r = subprocess.run(["psql", self.db_url, "-v", "ON_ERROR_STOP=1", "-q", "-At", "-F", "\t",
                            "-1", "-f", "-"], input=script, capture_output=True, text=True, timeout=300)
        if r.returncode != 0:
            raise SystemExit(f"psql failed: {r.stderr}")
        return [tuple(line.split("\t")) for line in r.stdout.splitlines() if line]

    def prepare_database(self):
        if self.kind == "postgres":
            admin = f"{PG_BASE}/postgres"
            for s in (f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)", f"CREATE DATABASE {PG_DB}"):
                subprocess.run(["psql", admin, "-v", "ON_ERROR_STOP=1", "-q", "-c", s], check=True,
                               capture_output=True, timeout=120)
        self.cli("migrate")
        self.cli("content", "import")
        status = self.sql([f"SELECT status FROM courses WHERE slug = '{PROGRAM}'"])
        if not status or status[0][0] != "preenrollment":
            raise SystemExit(f"{PROGRAM} is not in pre-enrollment after the import: {status}")
        # PEOPLE confirmed pre-enrollees of the program, written straight into the database (the
        # form and its confirmation links are covered by the tests; the launch is what is rehearsed).
        ts = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 3 * 86400))
        values = ",\n".join(
            f"('{p['email']}', '{p['name']}', '{ts}', 'Tell me when it opens.', '{ts}', '{ts}')"
            for p in self.people)
        self.sql([
            "INSERT INTO preenrollments (email, name, confirmed_at, consent_text, created_at, updated_at) "
            f"VALUES {values}",
            "INSERT INTO preenrollment_courses (preenrollment_id, course_id, confirmed_at, created_at) "
            "SELECT p.id, c.id, p.confirmed_at, p.created_at FROM preenrollments p, courses c "
            f"WHERE c.slug = '{PROGRAM}' AND p.email LIKE '%@launch.example'",
        ])
        n = self.sql(["SELECT COUNT(*) FROM preenrollment_courses pc JOIN courses c ON c.id = pc.course_id "
                      f"WHERE c.slug = '{PROGRAM}' AND pc.confirmed_at IS NOT NULL"])[0][0]
        if int(n) != len(self.people):
            raise SystemExit(f"seeded {n} confirmed pre-enrollees, wanted {len(self.people)}")
        self.cli("instructor", "add", "--email", "ruth@launch.example", "--name", "Ruth Instructor",
                 stdin=self.instructor_pw + "\n")

    async def start_instances(self):
        count = 1 if self.kind == "sqlite" else 2
        for n in range(1, count + 1):
            port = free_port()
            log = os.path.join(self.work, f"instance-{n}.log")
            proc = subprocess.Popen([BIN, "serve"], env=self.app_env(port, n), cwd=self.work,
                                    stdout=open(log, "w"), stderr=subprocess.STDOUT)
            self.instances.append((f"instance {n}", proc, port, log))
        async with aiohttp.ClientSession() as s:
            for label, proc, port, log in self.instances:
                await self.wait_up(s, f"http://127.0.0.1:{port}/healthz", proc, log, label)

    async def wait_up(self, s, url, proc, log, label, ssl_ctx=None):
        deadline = time.time() + 90
        while time.time() < deadline:
            if proc.poll() is not None:
                raise SystemExit(f"{label} exited ({proc.returncode}):\n" + open(log).read()[-3000:])
            try:
                async with s.get(url, ssl=ssl_ctx) as r:
                    if r.status == 200:
                        return
            except (aiohttp.ClientError, OSError, asyncio.TimeoutError):
                pass
            await asyncio.sleep(0.2)
        raise SystemExit(f"{label} did not answer {url} within 90 s:\n" + open(log).read()[-3000:])

    async def start_caddy(self):
        upstreams = " ".join(f"127.0.0.1:{port}" for _, _, port, _ in self.instances)
        caddyfile = os.path.join(self.work, "Caddyfile")
        with open(caddyfile, "w") as f:
            f.write(f"""{{
	admin off
	skip_install_trust
	auto_https disable_redirects
	http_port {free_port()}
	https_port {self.port}
}}

localhost:{self.port} {{
	bind 127.0.0.1
	tls internal
	reverse_proxy {upstreams} {{
		lb_policy round_robin
		# Learnwell closes connections idle for 10 s; Caddy drops them first.
		transport http {{
			keepalive 5s
		}}
	}}
}}
""")
        env = dict(os.environ, HOME=self.work, XDG_DATA_HOME=f"{self.work}/caddy-data",
                   XDG_CONFIG_HOME=f"{self.work}/caddy-config")
        log = os.path.join(self.work, "caddy.log")
        self.caddy = subprocess.Popen(["caddy", "run", "--config", caddyfile, "--adapter", "caddyfile"],
                                      env=env, cwd=self.work, stdout=open(log, "w"), stderr=subprocess.STDOUT)
        root = f"{self.work}/caddy-data/caddy/pki/authorities/local/root.crt"
        deadline = time.time() + 60
        while not os.path.exists(root):
            if self.caddy.poll() is not None or time.time() > deadline:
                raise SystemExit("Caddy did not start:\n" + open(log).read()[-3000:])
            await asyncio.sleep(0.2)
        await asyncio.sleep(0.3)  # the root is written before the leaf certificate
        self.ssl = ssl.create_default_context(cafile=root)
        conn = aiohttp.TCPConnector(resolver=LoopbackResolver(), ssl=self.ssl)
        async with aiohttp.ClientSession(connector=conn) as s:
            await self.wait_up(s, f"{self.base}/healthz", self.caddy, log, "Caddy")

    def stop_all(self):
        for label, proc, _, _ in self.instances:
            if proc.poll() is None:
                t0 = time.time()
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=45)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
                self.stats.exits[label] = (proc.returncode, time.time() - t0)
        if self.caddy and self.caddy.poll() is None:
            self.caddy.send_signal(signal.SIGTERM)
            try:
                self.caddy.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.caddy.kill()
                self.caddy.wait()

    # ---- watchers ---------------------------------------------------------------------------

    def procs(self):
        out = [(label, proc.pid) for label, proc, _, _ in self.instances]
        if self.caddy:
            out.append(("caddy", self.caddy.pid))
        return out

    @staticmethod
    def status_kb(pid, key):
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith(key + ":"):
                        return int(line.split()[1])
        except OSError:
            return None
        return None

    async def watch(self):
        last_load = 0.0
        while not self.done:
            for label, pid in self.procs():
                kb = self.status_kb(pid, "VmRSS")
                if kb is not None:
                    self.stats.rss[label] = max(self.stats.rss.get(label, 0), kb)
            if time.time() - last_load >= 10:
                self.stats.loads.append((time.time(), loadavg()))
                last_load = time.time()
            t0 = time.perf_counter()
            await asyncio.sleep(0.25)
            self.stats.loop_lag.append(time.perf_counter() - t0 - 0.25)

    # ---- the crowd --------------------------------------------------------------------------

    def make_people(self):
        rnd = random.Random(SEED)
        self.people = []
        for i in range(PEOPLE):
            words = rnd.sample(WORDS, 3)
            self.people.append({
                "i": i,
                "email": f"pre{i:04d}@launch.example",
                "name": f"{rnd.choice(FIRST)} {rnd.choice(LAST)}",
                "password": f"{words[0]} {words[1]} {rnd.randint(1000, 9999)} {words[2]}",
                # 127.1.x.y: one address per person (visitors use 127.2.x.y, the instructor 127.3.0.1)
                "ip": f"127.1.{1 + i // 250}.{1 + i % 250}",
            })
        self.instructor_pw = "slow copper lantern 7391 meadow"

    async def discover(self):
        """The pages visitors read (home, programs, previews) and the program's lesson 1."""
        async with Browser(self, "127.3.0.2") as b:
            _, _, home = await b.get("discovery", "/")
            pages = ["/", "/courses"]
            for slug in ("gut-foundations", "skin-from-within"):
                _, _, text = await b.get("discovery", f"/courses/{slug}")
                pages.append(f"/courses/{slug}")
                previews = re.findall(rf'href="(/courses/{slug}/lessons/[^"]+)">[^<]*</a> <span class="badge badge-preview"',
                                      text)
                pages += sorted(set(previews))
            self.visitor_pages = pages
            self.assets = sorted(set(re.findall(r'(?:href|src)="(/static/[^"]+)"', html.unescape(home))))
        print(f"  visitors read {len(pages)} pages: {' '.join(pages)}; assets: {' '.join(self.assets)}", flush=True)
        self.stats.requests = 0
        self.stats.steps.clear()
        self.stats.warm.clear()
        self.stats.statuses.clear()

    async def instructor_launch(self):
        async with Browser(self, "127.3.0.1") as b:
            await b.get("instructor log-in page", "/login?next=/admin")
            _, loc, _ = await b.post("instructor log in", "/login", {
                "email": "ruth@launch.example", "password": self.instructor_pw, "next": "/admin"}, expect=(303,))
            await b.get("studio", loc, contains="Launch")
            t_press = time.time()
            _, loc, _ = await b.post("press Launch", f"/admin/courses/{PROGRAM}/launch", {}, expect=(303,))
            if "notice=launched" not in loc:
                raise SystemExit(f"Launch answered {loc}")
            self.launch_at = t_press
            await b.get("studio", loc)
        print(f"  launched at {time.strftime('%H:%M:%S')}", flush=True)

    async def rate_limit_control(self):
        """After the crowd: one client (127.4.0.1) sends wrong log-ins until it gets a 429, to show
        that the limit still holds per client behind the proxy (each instance keeps its own count,
        so with round-robin the first 429 is expected at limit x instances + 1)."""
        limit = int(os.environ.get("AUTH_RATE_LIMIT") or 10)
        expected = limit * len(self.instances) + 1
        first = None
        async with Browser(self, "127.4.0.1") as b:
            for n in range(1, expected + 3):
                status = await b.status_of_post("/login", {"email": "nobody@launch.example",
                                                           "password": "not the right one at all", "next": ""})
                if status == 429:
                    first = n
                    break
                if status != 401:
                    self.stats.notes.append(f"rate-limit control: attempt {n} got {status}")
        self.stats.control = (expected, first)

    async def person(self, p, start):
        st = self.stats
        await asyncio.sleep(max(0.0, self.launch_at + start - time.time()))
        try:
            mail = await self.sink.wait_for(p["email"], LAUNCH_SUBJECT, MAIL_WAIT)
        except asyncio.TimeoutError:
            st.error("launch email", f"none for {p['email']} within {MAIL_WAIT:.0f} s")
            return
        enroll = next((l for l in mail.links() if l.endswith(f"/courses/{PROGRAM}/enroll")), None)
        if not enroll:
            st.error("launch email", f"no enroll link in {mail.links()}")
            return
        try:
            async with Browser(self, p["ip"]) as b:
                _, loc, _ = await b.get("open the launch link", enroll, expect=(303,))
                if "/login" not in loc:
                    st.error("open the launch link", f"went to {loc}, not the log-in page")
                    return
                nxt = urllib.parse.parse_qs(urllib.parse.urlsplit(loc).query).get("next", ["/"])[0]
                await b.get("log-in page", loc)
                await think(1, 3)
                await b.get("sign-up page", "/signup?next=" + urllib.parse.quote(nxt, safe=""))
                await think(6, 12)  # typing
                t_signup = time.time()
                await b.post("sign up (POST)", "/signup", {
                    "name": p["name"], "email": p["email"], "password": p["password"], "next": nxt},
                    contains="Check your email")
                try:
                    verify = await self.sink.wait_for(p["email"], VERIFY_SUBJECT, MAIL_WAIT)
                except asyncio.TimeoutError:
                    st.error("confirmation email", f"none for {p['email']} within {MAIL_WAIT:.0f} s")
                    return
                st.verify_delays.append(verify.received - t_signup)
                link = next((l for l in verify.links() if "/verify-email" in l), None)
                if not link:
                    st.error("confirmation email", f"no link in {verify.links()}")
                    return
                await think(2, 6)
                # The link is opened on the phone (a second browser from the same address): it signs
                # the phone in and goes on to the enroll page.
                async with Browser(self, p["ip"]) as phone:
                    _, loc, _ = await phone.get("open the confirmation link", link, expect=(303,))
                    await phone.get("enroll page (phone)", loc)
                await think(2, 5)
                # Back on the laptop, which is not signed in: log in.
                _, loc, _ = await b.post("log in (POST)", "/login", {
                    "email": p["email"], "password": p["password"], "next": nxt}, expect=(303,))
                _, _, page = await b.get("enroll page", loc, contains=r'action="/checkout"')
                form = next(f for f in forms_of(page) if f["action"] == "/checkout")
                await think(2, 5)
                _, loc, _ = await b.post("checkout (POST)", "/checkout", form["fields"], expect=(303,))
                await b.get("test checkout page", loc)
                await think(2, 4)
                t_pay = time.time()
                _, loc, _ = await b.post("pay (POST)", loc + "/pay", {}, expect=(303,))
                await b.get("payment success page", loc)
                await think(1, 3)
                _, _, page = await b.get("program page (enrolled)", f"/courses/{PROGRAM}")
                lessons = re.findall(rf'href="(/courses/{PROGRAM}/lessons/[^"#?]+)"', page)
                if not lessons:
                    _, _, page = await b.get("dashboard", "/dashboard")
                    lessons = re.findall(rf'href="(/courses/{PROGRAM}/lessons/[^"#?]+)"', page)
                if not lessons:
                    st.error("program page (enrolled)", "no lesson link")
                    return
                lesson = lessons[0]
                status, loc, page = await b.get("lesson 1", lesson, expect=(200, 303))
                if status == 303:
                    # An acknowledgement gate before the first lesson: read it, tick it, go on.
                    if "acknowledg" not in loc:
                        st.error("lesson 1", f"redirected to {loc}")
                        return
                    _, _, gate = await b.get("acknowledgement page", loc)
                    form = next((f for f in forms_of(gate) if f["method"] == "post"), None)
                    if not form:
                        st.error("acknowledgement page", "no form")
                        return
                    await think(3, 6)
                    action = urllib.parse.urljoin(loc, form["action"] or loc)
                    _, after, _ = await b.post("acknowledge (POST)", action, form["fields"], expect=(303,))
                    _, _, page = await b.get("lesson 1", after if "/lessons/" in after else lesson)
                forms = [f for f in forms_of(page) if f["action"].endswith("/complete")]
                if not forms or ("done", "true") not in forms[0]["fields"]:
                    st.error("lesson 1", "no Mark complete form")
                    return
                await think(8, 16)  # reading
                _, loc, _ = await b.post("mark complete (POST)", forms[0]["action"], forms[0]["fields"],
                                         expect=(303,))
                await b.get("lesson 1 after marking it", loc, contains=r"Done\.")
                self.pay_times[p["email"]] = t_pay
                st.journeys_done += 1
        except StepFailed:
            return

    async def visitor(self, j, start):
        await asyncio.sleep(max(0.0, self.launch_at + start - time.time()))
        rnd = random.Random(SEED * 100_003 + j)
        ip = f"127.2.{1 + j // 250}.{1 + j % 250}"
        pages = ["/"] + rnd.sample(self.visitor_pages[1:], k=min(len(self.visitor_pages) - 1, rnd.randint(2, 4)))
        try:
            async with Browser(self, ip) as b:
                for k, path in enumerate(pages):
                    label = ("home" if path == "/" else "programs list" if path == "/courses"
                             else "preview lesson" if "/lessons/" in path else "program page")
                    await b.get(label, path)
                    if k == 0:
                        for a in self.assets:
                            await b.get("static asset", a)
                    await think(2, 8)
            self.stats.visits_done += 1
        except StepFailed:
            return

    # ---- the whole set-up -------------------------------------------------------------------

    async def main(self):
        st = self.stats
        print(f"\n== {st.name}: {PEOPLE} pre-enrollees, {VISITORS} visitors, window {WINDOW:.0f} s, "
              f"think x{THINK} (load {loadavg()[0]:.2f})", flush=True)
        self.sink_port = await self.sink.start()
        self.make_people()
        self.pay_times = {}
        self.prepare_database()
        await self.start_instances()
        await self.start_caddy()
        watcher = asyncio.create_task(self.watch())
        await self.discover()
        cpu0 = resource.getrusage(resource.RUSAGE_SELF)
        t0 = time.time()
        await self.instructor_launch()
        rnd = random.Random(SEED)
        tasks = [asyncio.create_task(self.person(p, rnd.uniform(0, WINDOW))) for p in self.people]
        tasks += [asyncio.create_task(self.visitor(j, rnd.uniform(0, WINDOW))) for j in range(VISITORS)]
        last_report = time.time()
        pending = set(tasks)
        while pending:
            _, pending = await asyncio.wait(pending, timeout=5)
            if time.time() - last_report >= 30 or not pending:
                last_report = time.time()
                print(f"  +{time.time() - t0:4.0f} s: {st.journeys_done}/{PEOPLE} journeys, "
                      f"{st.visits_done}/{VISITORS} visits, {st.requests} requests, {len(st.errors)} errors, "
                      f"{len(self.sink.mails)} mails, load {loadavg()[0]:.2f}", flush=True)
        st.launch_to_last = time.time() - self.launch_at
        await self.rate_limit_control()
        # Receipts may still be on their way; then give doubles a moment to show.
        deadline = time.time() + 60
        while time.time() < deadline and any(
                self.sink.count(e, RECEIPT_SUBJECT) == 0 for e in self.pay_times):
            await asyncio.sleep(0.5)
        await asyncio.sleep(3)
        st.wall = time.time() - t0
        cpu1 = resource.getrusage(resource.RUSAGE_SELF)
        st.driver_cpu = (cpu1.ru_utime + cpu1.ru_stime) - (cpu0.ru_utime + cpu0.ru_stime)
        self.done = True
        await watcher
        for label, pid in self.procs():
            kb = self.status_kb(pid, "VmHWM")
            if kb is not None:
                st.hwm[label] = kb
        self.count_mail()
        self.check_database()

    def count_mail(self):
        st, sink = self.stats, self.sink
        launch = [sink.count(p["email"], LAUNCH_SUBJECT) for p in self.people]
        receipts = [sink.count(p["email"], RECEIPT_SUBJECT) for p in self.people]
        st.mail_counts = {
            "launch_one": sum(1 for n in launch if n == 1), "launch_none": sum(1 for n in launch if n == 0),
            "launch_more": sum(1 for n in launch if n > 1),
            "receipt_one": sum(1 for n in receipts if n == 1), "receipt_none": sum(1 for n in receipts if n == 0),
            "receipt_more": sum(1 for n in receipts if n > 1),
            "total": len(sink.mails),
        }
        for p in self.people:
            for m in sink.by_rcpt.get(p["email"], []):
                if re.search(LAUNCH_SUBJECT, m.subject):
                    st.launch_delays.append(m.received - self.launch_at)
                elif re.search(RECEIPT_SUBJECT, m.subject) and p["email"] in self.pay_times:
                    st.receipt_delays.append(m.received - self.pay_times[p["email"]])
        for p, n in zip(self.people, launch):
            if n != 1:
                st.error("launch email count", f"{p['email']} got {n}")
        for p, n in zip(self.people, receipts):
            if n != 1:
                st.error("receipt count", f"{p['email']} got {n}")

    def check_database(self):
        st = self.stats
        q = {
            "paid orders": "SELECT COUNT(*) FROM orders WHERE status = 'paid'",
            "of them at the early-bird price": "SELECT COUNT(*) FROM orders WHERE status = 'paid' "
                                               "AND total_cents < list_cents",
            "other orders": "SELECT COUNT(*) FROM orders WHERE status <> 'paid'",
            "active enrollments": "SELECT COUNT(*) FROM enrollments WHERE status = 'active'",
            "lessons completed": "SELECT COUNT(*) FROM lesson_progress WHERE completed_at IS NOT NULL",
            "outbox not sent": "SELECT COUNT(*) FROM outbox WHERE status <> 'sent'",
            "outbox max attempts": "SELECT COALESCE(MAX(attempts), 0) FROM outbox",
        }
        try:
            for k, s in q.items():
                st.db[k] = int(self.sql([s])[0][0])
        except (SystemExit, sqlite3.Error) as e:
            st.notes.append(f"database check failed: {e}")
        for label, _, _, log in self.instances + ([("caddy", None, None, f"{self.work}/caddy.log")]):
            try:
                lines = open(log, errors="replace").read().splitlines()
            except OSError:
                continue
            # Caddy warns at start (no OCSP for an internal certificate) and at exit: only its errors count.
            pattern = r'"level":"error"' if label == "caddy" else r"\b(WARN|ERROR)\b|panicked"
            bad = [l for l in lines if re.search(pattern, l)]
            st.log_lines[label] = (len(bad), bad[:5])


def report(all_stats):
    out = []
    w = out.append
    w("")
    w(f"## Launch-day rehearsal ({'smoke, ' if SMOKE else ''}{PEOPLE} pre-enrollees, {VISITORS} visitors, "
      f"window {WINDOW:.0f} s, think x{THINK}), {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    w("")
    w(f"Binary: `{BIN}`; machine: {os.cpu_count()} cores. Latencies are measured by the client (through Caddy and TLS).")
    w("")
    cols = [s.name for s in all_stats]
    w("| | " + " | ".join(cols) + " |")
    w("|---|" + "---|" * len(cols))

    def row(label, f):
        w(f"| {label} | " + " | ".join(f(s) for s in all_stats) + " |")

    row("load average (1 min): start / max / end",
        lambda s: " / ".join(f"{x:.2f}" for x in (s.loads[0][1][0], max(l[1][0] for l in s.loads), s.loads[-1][1][0]))
        if s.loads else "–")
    row("rate-limit control: first 429 at attempt (expected)",
        lambda s: f"{s.control[1] or 'none'} ({s.control[0]})")
    row("journeys completed", lambda s: f"{s.journeys_done} / {PEOPLE}")
    row("visitors completed", lambda s: f"{s.visits_done} / {VISITORS}")
    row("requests", lambda s: f"{s.requests:,}")
    row("errors", lambda s: f"**{len(s.errors)}**")
    row("429 answers", lambda s: f"**{s.too_many}**")
    row("launch emails per person", lambda s: f"{s.mail_counts.get('launch_one', 0)} × 1, "
        f"{s.mail_counts.get('launch_none', 0)} × 0, {s.mail_counts.get('launch_more', 0)} × 2+")
    row("receipts per person", lambda s: f"{s.mail_counts.get('receipt_one', 0)} × 1, "
        f"{s.mail_counts.get('receipt_none', 0)} × 0, {s.mail_counts.get('receipt_more', 0)} × 2+")
    row("outbox delay, launch → in the sink: p50 / p99 / last",
        lambda s: " / ".join(secs(pct(s.launch_delays, p)) for p in (50, 99, 100)))
    row("confirmation email, sign-up → sink: p50 / p99 / max",
        lambda s: " / ".join(secs(pct(s.verify_delays, p)) for p in (50, 99, 100)))
    row("receipt, pay → sink: p50 / p99 / max",
        lambda s: " / ".join(secs(pct(s.receipt_delays, p)) for p in (50, 99, 100)))
    row("peak RSS per instance (VmRSS polled / VmHWM)",
        lambda s: "; ".join(f"{k}: {s.rss.get(k, 0) / 1024:.0f} / {s.hwm.get(k, 0) / 1024:.0f} MiB"
                            for k in s.rss if k != "caddy"))
    row("Caddy peak RSS", lambda s: f"{s.rss.get('caddy', 0) / 1024:.0f} MiB")
    row("database after the run", lambda s: ", ".join(f"{k} {v}" for k, v in s.db.items()) or "–")
    row("launch to last journey done", lambda s: secs(s.launch_to_last))
    row("driver CPU / event-loop lag p99", lambda s: f"{s.driver_cpu:.0f} s / {ms(pct(s.loop_lag, 99))}")
    row("SIGTERM → exit (code)", lambda s: "; ".join(f"{k}: {v[1]:.1f} s ({v[0]})" for k, v in s.exits.items()))
    row("WARN/ERROR log lines", lambda s: "; ".join(f"{k}: {v[0]}" for k, v in s.log_lines.items()))
    w("")
    steps = []
    for s in all_stats:
        for k in s.steps:
            if k not in steps:
                steps.append(k)
    w("| step: p50 / p99 (count; p99 less TCP+TLS set-up) | " + " | ".join(cols) + " |")
    w("|---|" + "---|" * len(cols))
    def cell(s, k):
        if k not in s.steps:
            return "–"
        p99 = pct(s.steps[k], 99)
        over = p99 > 0.1 and k not in HASH_STEPS | ONE_OFF_STEPS  # a page step over the goal: bold
        p99_text = f"**{ms(p99)}**" if over else ms(p99)
        warm = pct(s.warm[k], 99)
        return f"{ms(pct(s.steps[k], 50))} / {p99_text} ({len(s.steps[k])}; {ms(warm)})"

    for k in steps:
        mark = " (hashing)" if k in HASH_STEPS else " (once)" if k in ONE_OFF_STEPS else ""
        w(f"| {k}{mark} | " + " | ".join(cell(s, k) for s in all_stats) + " |")
    w("")
    goals = []
    for s in all_stats:
        page_p99 = max((pct(v, 99) for k, v in s.steps.items() if k not in HASH_STEPS | ONE_OFF_STEPS),
                       default=0)
        # VmHWM is the kernel's own peak: it catches what a 250 ms poll misses.
        peak = max((max(v, s.hwm.get(k, 0)) for k, v in s.rss.items() if k != "caddy"), default=0) / 1024
        ok = {
            "0 errors": not s.errors,
            "0 429s": s.too_many == 0,
            "one launch email each": s.mail_counts.get("launch_one") == PEOPLE,
            "one receipt each": s.mail_counts.get("receipt_one") == PEOPLE,
            "p99 ≤ 100 ms per page step": page_p99 <= 0.1,
            "RSS ≤ 96 MiB": peak <= 96,
            "429 control": s.control[0] is not None and s.control[0] == s.control[1],
        }
        goals.append(f"- {s.name}: " + ", ".join(f"{k} {'✔' if v else '✘'}" for k, v in ok.items())
                     + f" (slowest page-step p99 {ms(page_p99)}, peak RSS {peak:.0f} MiB)")
    w("Goals:")
    out.extend(goals)
    for s in all_stats:
        if s.errors:
            w("")
            w(f"First errors ({s.name}):")
            kinds = {}
            for step, detail in s.errors:
                kinds.setdefault(step, []).append(detail)
            for step, details in kinds.items():
                w(f"- {step}: {len(details)} × e.g. `{details[0]}`")
        for label, (n, sample) in s.log_lines.items():
            if n:
                w("")
                w(f"{s.name}, {label}: {n} WARN/ERROR log lines, e.g.:")
                for l in sample[:3]:
                    plain = re.sub("\x1b\\[[0-9;]*m", "", l)
                    w(f"    {plain[:300]}")
        for n in s.notes:
            w(f"- note: {n}")
    return "\n".join(out)


async def run_setup(kind, work):
    run = Run(kind, work)
    try:
        await run.main()
    finally:
        run.done = True
        run.stop_all()
        await run.sink.stop()
        if kind == "postgres" and not KEEP:
            subprocess.run(["psql", f"{PG_BASE}/postgres", "-q", "-c",
                            f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)"], capture_output=True, timeout=120)
    return run.stats


async def main():
    if not os.access(BIN, os.X_OK):
        raise SystemExit(f"no release binary at {BIN} (set LEARNWELL_BIN)")
    random.seed(SEED)
    top = tempfile.mkdtemp(prefix="launch-day-")
    results = []
    try:
        for kind in SETUPS:
            work = os.path.join(top, kind)
            os.makedirs(work)
            results.append(await run_setup(kind, work))
    finally:
        text = report(results) if results else ""
        print(text)
        out = os.environ.get("REPORT")
        if out and text:
            with open(out, "a") as f:
                f.write(text + "\n")
        if KEEP:
            print(f"\nwork files kept in {top}")
        else:
            shutil.rmtree(top, ignore_errors=True)
    # Correctness fails the run; latency and memory are numbers to read (a shared machine is noisy).
    failed = not results or any(s.errors or s.too_many or s.control[0] != s.control[1] for s in results)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
