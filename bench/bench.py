#!/usr/bin/python3
"""The runwasm benchmark driver (stdlib only). bench/run.sh prepares
everything (packages, release build, modules, the measure helper, the
bundles' inputs) and runs this inside a private mount namespace; see
bench/README.md for what is measured and how to read the output.

Every command is run through the `measure` helper (bench/measure.c), which
forks it from a small process and reports wall time, ru_maxrss from wait4
(the process and every descendant it reaped: for `run`, the container init
too) and the exit status. Samples of competing commands are interleaved in
a freshly shuffled order each round, so they share the machine's noise;
the figures reported are medians.
"""

import argparse
import datetime
import json
import math
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
SYS_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
AOT_ANNOTATION = "io.github.runwasm.aot"

# Targets from issue 6: (ratio key, limit). A ratio passes when <= limit.
TARGETS = {
    "hello_wall_vs_wasmedge": 1.5,
    "hello_rss_vs_wasmedge": 1.0,
    "native_wall_vs_crun": 1.2,
    "native_wall_vs_runc": 0.5,
    "compute_warm_vs_native": 1.15,
    "compute_cold_vs_native": 2.5,
    "compute_auto_warm_vs_native": 1.15,
    "compute_auto_cold_vs_native": 2.5,
}
STATE_TARGET_MS = 3.0


def log(msg):
    print(msg, file=sys.stderr, flush=True)


class Bench:
    def __init__(self, args):
        self.a = args
        self.work = args.work
        self.rw = args.runwasm
        self.measure_bin = os.path.join(self.work, "bin", "measure")
        self.resfile = os.path.join(self.work, "measure.out")
        self.env = {
            "PATH": SYS_PATH,
            "HOME": "/root",
            "LANG": "C",
            "RUNWASM_WASM_LIB": args.lib,
        }
        self.counter = 0
        self.rng = random.Random(args.seed)
        self.roots = {rt: os.path.join(self.work, "state", rt) for rt in ("runwasm", "runc", "crun")}
        self.results = {}
        self.notes = []

    # -- running things ---------------------------------------------------

    def run(self, cmd, check=True, stdout=subprocess.PIPE, timeout=None):
        """Runs cmd (unmeasured); returns CompletedProcess. With stdout not a
        pipe (`create`, whose container init keeps the stdio it was given),
        stderr goes through a file so that nothing waits for the init's EOF."""
        if stdout is subprocess.PIPE:
            p = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=stdout, stderr=subprocess.PIPE,
                               env=self.env, timeout=timeout)
        else:
            with open(os.path.join(self.work, "cmd.err"), "w+b") as ef:
                p = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=stdout, stderr=ef,
                                   env=self.env, timeout=timeout)
                ef.seek(0)
                p.stderr = ef.read()
        if check and p.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} exited {p.returncode}: {p.stderr.decode(errors='replace').strip()}")
        return p

    def measure(self, cmd, stdout=subprocess.PIPE, timeout=None):
        """Runs cmd once through the helper: dict(ms, rss_kib, code, out, err).
        A run killed after `timeout` seconds (default --run-timeout) has
        code 137 and an err saying so."""
        try:
            os.unlink(self.resfile)
        except FileNotFoundError:
            pass
        t = int(math.ceil(timeout or self.a.run_timeout))
        p = subprocess.run([self.measure_bin, "-t", str(t), self.resfile] + cmd, stdin=subprocess.DEVNULL,
                           stdout=stdout, stderr=subprocess.PIPE, env=self.env)
        if p.returncode != 0 or not os.path.exists(self.resfile):
            raise RuntimeError(f"measure helper failed on {cmd}: {p.stderr.decode(errors='replace')}")
        ns, rss, code, timed_out = open(self.resfile).read().split()
        err = p.stderr.decode(errors="replace")
        if timed_out == "1":
            err += f"\n(killed after the {t}s timeout)"
        return {
            "ms": int(ns) / 1e6,
            "rss_kib": int(rss),
            "code": int(code),
            "timed_out": timed_out == "1",
            "out": (p.stdout or b"").decode(errors="replace"),
            "err": err,
        }

    def new_id(self, tag):
        self.counter += 1
        return f"rwb{os.getpid()}-{tag}-{self.counter}"

    def rt_cmd(self, rt, *args, glob=()):
        exe = self.rw if rt == "runwasm" else rt
        return [exe, "--root", self.roots[rt], *glob, *args]

    def cleanup_root(self, rt):
        root = self.roots[rt]
        if os.path.isdir(root) and shutil.which(rt if rt != "runwasm" else self.rw):
            p = subprocess.run(self.rt_cmd(rt, "list", "-q"), stdin=subprocess.DEVNULL,
                               capture_output=True, env=self.env)
            for cid in p.stdout.decode().split():
                subprocess.run(self.rt_cmd(rt, "delete", "--force", cid), stdin=subprocess.DEVNULL,
                               capture_output=True, env=self.env)
        shutil.rmtree(root, ignore_errors=True)
        os.makedirs(root, exist_ok=True)

    # -- bundles ------------------------------------------------------------

    def runc_spec(self):
        d = os.path.join(self.work, "spec-tmp")
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        self.run(["runc", "spec", "--bundle", d])
        with open(os.path.join(d, "config.json")) as f:
            spec = json.load(f)
        shutil.rmtree(d)
        return spec

    def make_bundle(self, name, files, args, annotations=None):
        """A bundle from runc's default spec: rootfs with `files`
        ({path in rootfs: host file}), process.args = args, terminal false."""
        b = os.path.join(self.work, "bundles", name)
        shutil.rmtree(b, ignore_errors=True)
        os.makedirs(os.path.join(b, "rootfs"))
        for dst, src in files.items():
            full = os.path.join(b, "rootfs", dst.lstrip("/"))
            os.makedirs(os.path.dirname(full), exist_ok=True)
            shutil.copy2(src, full)
        spec = self.runc_spec()
        spec["process"]["args"] = args
        spec["process"]["terminal"] = False
        if annotations:
            spec.setdefault("annotations", {}).update(annotations)
        with open(os.path.join(b, "config.json"), "w") as f:
            json.dump(spec, f, indent=2)
        return b

    # -- sampling -------------------------------------------------------------

    def preflight(self, name, cmd_fn, expect_code=0):
        """Runs one candidate once; returns None if fine, else an error text."""
        try:
            r = self.measure(cmd_fn())
        except Exception as e:  # noqa: BLE001 - report, do not crash the run
            return str(e)
        if r["code"] != expect_code:
            tail = (r["err"].strip() or r["out"].strip()).splitlines()[-3:]
            return f"exit {r['code']}: " + " | ".join(tail)
        return None

    def interleave(self, candidates, reps, warmup=0, expect=None):
        """candidates: {name: fn() -> cmd}. Returns {name: [samples]}, errors."""
        samples = {n: [] for n in candidates}
        errors = {n: [] for n in candidates}
        names = list(candidates)
        for rnd in range(warmup + reps):
            order = names[:]
            self.rng.shuffle(order)
            for n in order:
                r = self.measure(candidates[n]())
                ok = r["code"] == 0 and (expect is None or expect(n, r))
                if not ok:
                    errors[n].append(f"exit {r['code']}: {r['err'].strip()[-300:]}")
                elif rnd >= warmup:
                    samples[n].append(r)
        return samples, errors

    @staticmethod
    def stats(samples, key):
        xs = sorted(s[key] for s in samples)
        if not xs:
            return None
        q = statistics.quantiles(xs, n=4) if len(xs) >= 2 else [xs[0]] * 3
        return {"median": statistics.median(xs), "p25": q[0], "p75": q[2], "min": xs[0],
                "max": xs[-1], "n": len(xs)}

    def summarize(self, samples, errors, failed=None):
        out = {}
        for n, ss in samples.items():
            entry = {}
            if failed and n in failed:
                entry["error"] = failed[n]
            else:
                entry["wall_ms"] = self.stats(ss, "ms")
                rss = self.stats(ss, "rss_kib")
                entry["rss_mib"] = {k: (v / 1024 if k != "n" else v) for k, v in rss.items()} if rss else None
                entry["failures"] = len(errors.get(n, []))
                if errors.get(n):
                    entry["first_failure"] = errors[n][0]
            out[n] = entry
        return out

    # -- the sections -----------------------------------------------------------

    def section_native(self):
        log("== native busybox `true`: run with runwasm, runc, crun")
        b = self.make_bundle("native", {"/bin/busybox": self.a.busybox}, ["/bin/busybox", "true"])
        cands = {rt: (lambda rt=rt: self.rt_cmd(rt, "run", "--bundle", b, self.new_id(rt)))
                 for rt in ("runwasm", "runc", "crun")}
        failed = {}
        for rt in list(cands):
            err = self.preflight(rt, cands[rt])
            if err:
                log(f"   {rt}: FAILED preflight: {err}")
                failed[rt] = err
                del cands[rt]
                self.cleanup_root(rt)
        samples, errors = self.interleave(cands, self.a.reps, warmup=3)
        for rt in failed:
            samples[rt] = []
        self.results["native_true"] = self.summarize(samples, errors, failed)
        self.native_bundle = b

    def section_hello(self):
        log("== hello.wasm: runwasm run vs bare wasmedge")
        b = self.make_bundle("hello", {"/hello.wasm": self.a.hello}, ["/hello.wasm"])
        glob = ("--aot-cache", os.path.join(self.work, "aot-hello")) if self.aot else ()
        if self.aot:
            shutil.rmtree(glob[1], ignore_errors=True)
        cands = {
            "runwasm": lambda: self.rt_cmd("runwasm", "run", "--bundle", b, self.new_id("hello"), glob=glob),
            "wasmedge": lambda: ["wasmedge", self.a.hello],
            "wasmedge --version": lambda: ["wasmedge", "--version"],
        }
        failed = {}
        for n in list(cands):
            err = self.preflight(n, cands[n])
            if err:
                log(f"   {n}: FAILED preflight: {err}")
                failed[n] = err
                del cands[n]
        expect = lambda n, r: n == "wasmedge --version" or "Hello from Wasm!" in r["out"]  # noqa: E731
        samples, errors = self.interleave(cands, self.a.reps, warmup=3, expect=expect)
        for n in failed:
            samples[n] = []
        self.results["hello"] = self.summarize(samples, errors, failed)
        self.results["hello"]["_aot_note"] = (
            f"runwasm ran with its default AOT policy and a private cache ({glob[1]})" if self.aot
            else f"AOT not available ({self.aot_reason}): interpreter")
        self.hello_bundle = b

    def section_compute(self):
        log("== compute-bound module: runwasm (AOT cold/warm, never) vs native gcc -O2")
        N = self.a.compute_n
        for policy in ("always", "auto"):
            shutil.rmtree(os.path.join(self.work, f"aot-cold-{policy}"), ignore_errors=True)
        wasm = self.a.compute_wasm
        native = self.a.compute_native
        res = {"n_full": N}

        def bundle(name, n, policy):
            ann = {AOT_ANNOTATION: policy} if (policy and self.aot) else None
            return self.make_bundle(name, {"/compute.wasm": wasm}, ["/compute.wasm", str(n)], ann)

        # How long would the interpreter take at full size? Probe small.
        n_probe = self.a.probe_n
        probe_b = bundle("compute-probe", n_probe, "never")
        probe_glob = ("--aot-cache", os.path.join(self.work, "aot-probe")) if self.aot else ()
        r = self.measure(self.rt_cmd("runwasm", "run", "--bundle", probe_b, self.new_id("probe"), glob=probe_glob))
        if r["code"] != 0:
            res["error"] = f"runwasm failed on the compute module: exit {r['code']}: {r['err'].strip()[-300:]}"
            log("   " + res["error"])
            self.results["compute"] = res
            return
        est_full = r["ms"] / 1000 * (N / n_probe) ** 2
        budget = self.a.interp_budget
        if est_full <= budget:
            n_never = N
        else:
            n_never = int(n_probe * math.sqrt(budget / (r["ms"] / 1000)) // 12 * 12)
            n_never = max(12, min(N, n_never))
        res["interpreter_probe"] = {"n": n_probe, "seconds": r["ms"] / 1000,
                                    "estimated_full_seconds": est_full, "budget_seconds": budget}
        res["n_never"] = n_never
        res["never_work_fraction"] = (n_never / N) ** 2
        log(f"   interpreter probe: n={n_probe} {r['ms']/1000:.2f}s -> full n={N} would take ~{est_full:.0f}s;"
            f" `never` runs at n={n_never} ({100*(n_never/N)**2:.1f}% of the work)")

        b_never = bundle("compute-never", n_never, "never")
        cands = {"native": lambda: [native, str(N)]}
        if n_never != N:
            cands[f"native n={n_never}"] = lambda: [native, str(n_never)]
        never_glob = ("--aot-cache", os.path.join(self.work, "aot-never")) if self.aot else ()
        if self.aot:
            shutil.rmtree(never_glob[1], ignore_errors=True)
        cands["never"] = lambda: self.rt_cmd("runwasm", "run", "--bundle", b_never, self.new_id("never"),
                                             glob=never_glob)

        modes = {}
        if self.aot:
            for policy, tag in (("always", ""), ("auto", "auto ")):
                b = bundle(f"compute-{policy}", N, policy)
                warm = os.path.join(self.work, f"aot-warm-{policy}")
                shutil.rmtree(warm, ignore_errors=True)
                # Prime the warm cache with one (unmeasured) run of the same bundle.
                # If that takes longer than the interpreter budget, AOT is not
                # in effect (or far off): skip the mode rather than spend
                # minutes per run on it.
                p = self.measure(self.rt_cmd("runwasm", "run", "--bundle", b, self.new_id("prime"),
                                             glob=("--aot-cache", warm)), timeout=budget)
                modes[f"{tag}warm"] = {"bundle": b, "cache": warm, "prime_exit": p["code"],
                                       "prime_ms": p["ms"], "cache_files_after_prime": count_files(warm)}
                if p["code"] != 0:
                    why = (f"priming run (policy {policy}, n={N}) "
                           + (f"took over {budget:.0f}s: AOT apparently not in effect" if p["timed_out"]
                              else f"failed: exit {p['code']}: {p['err'].strip()[-200:]}"))
                    modes[f"{tag}warm"]["skipped"] = why
                    log(f"   {policy}: skipped: {why}")
                    self.cleanup_root("runwasm")
                    continue

                def cold(b=b, policy=policy):
                    c = os.path.join(self.work, f"aot-cold-{policy}")
                    shutil.rmtree(c, ignore_errors=True)
                    return self.rt_cmd("runwasm", "run", "--bundle", b, self.new_id("cold"),
                                       glob=("--aot-cache", c))

                cands[f"{tag}cold"] = cold
                cands[f"{tag}warm"] = (lambda b=b, warm=warm: self.rt_cmd(
                    "runwasm", "run", "--bundle", b, self.new_id("warm"), glob=("--aot-cache", warm)))
            res["aot"] = {"available": True, "policy_by": f"annotation {AOT_ANNOTATION}",
                          "cold": "a fresh empty --aot-cache directory for every run",
                          "warm": "a --aot-cache directory primed by one unmeasured run", "modes": modes}
        else:
            res["aot"] = {"available": False, "reason": self.aot_reason}
            log(f"   AOT: not available ({self.aot_reason}): measuring the interpreter only")

        expected = {}
        for n in {N, n_never}:
            expected[n] = self.run([native, str(n)]).stdout.decode().strip()

        def expect(name, r):
            n = n_never if (name == "never" or name.startswith("native n=")) else N
            return r["out"].strip() == expected[n]

        samples, errors = self.interleave(cands, self.a.compute_reps, warmup=0, expect=expect)
        res["runs"] = self.summarize(samples, errors)
        if self.aot:
            for policy, tag in (("always", ""), ("auto", "auto ")):
                if f"{tag}cold" in cands:
                    c = os.path.join(self.work, f"aot-cold-{policy}")
                    res["aot"][f"cold_cache_files_after_last_run_{policy}"] = count_files(c)
        res["expected_output"] = {str(k): v for k, v in expected.items()}
        self.results["compute"] = res

    def section_state(self):
        log(f"== state latency: {self.a.state_calls} calls each on a created container")
        ids = {}
        failed = {}
        for rt in ("runwasm", "runc", "crun"):
            cid = self.new_id(f"state-{rt}")
            p = self.run(self.rt_cmd(rt, "create", "--bundle", self.native_bundle, cid), check=False,
                         stdout=subprocess.DEVNULL, timeout=60)
            if p.returncode != 0:
                failed[rt] = f"create exited {p.returncode}: {p.stderr.decode(errors='replace').strip()[-300:]}"
                log(f"   {rt}: FAILED: {failed[rt]}")
                self.cleanup_root(rt)
            else:
                ids[rt] = cid
        wasm_id = self.new_id("state-wasm")
        p = self.run(self.rt_cmd("runwasm", "create", "--bundle", self.hello_bundle, wasm_id), check=False,
                     stdout=subprocess.DEVNULL, timeout=60)
        cands = {rt: (lambda rt=rt: self.rt_cmd(rt, "state", ids[rt])) for rt in ids}
        if p.returncode == 0:
            cands["runwasm (Wasm container)"] = lambda: self.rt_cmd("runwasm", "state", wasm_id)
        else:
            failed["runwasm (Wasm container)"] = f"create exited {p.returncode}: {p.stderr.decode(errors='replace')[-300:]}"
        expect = lambda n, r: '"created"' in r["out"]  # noqa: E731
        samples, errors = self.interleave(cands, self.a.state_calls, warmup=5, expect=expect)
        for rt, cid in ids.items():
            self.run(self.rt_cmd(rt, "delete", "--force", cid), check=False)
        if "runwasm (Wasm container)" in cands:
            self.run(self.rt_cmd("runwasm", "delete", "--force", wasm_id), check=False)
        for n in failed:
            samples[n] = []
        self.results["state"] = self.summarize(samples, errors, failed)

    def section_profile(self):
        """runwasm's own phase marks (RUNWASM_PROFILE) over --profile-reps runs
        of the hello and native bundles: the median moment each phase ends,
        counted from runwasm's main(), and the median wall time around it."""
        reps = self.a.profile_reps
        log(f"== start-up profile: {reps} runs each of hello.wasm and busybox true (RUNWASM_PROFILE)")
        out = {}
        for name, bundle in (("hello", self.hello_bundle), ("native", self.native_bundle)):
            if bundle is None:
                continue
            at, walls, failures = {}, [], 0
            pfile = os.path.join(self.work, "profile.txt")
            for _ in range(3 + reps):
                try:
                    os.unlink(pfile)
                except FileNotFoundError:
                    pass
                self.env["RUNWASM_PROFILE"] = pfile
                try:
                    r = self.measure(self.rt_cmd("runwasm", "run", "--bundle", bundle, self.new_id("prof")))
                finally:
                    del self.env["RUNWASM_PROFILE"]
                if r["code"] != 0:
                    failures += 1
                    continue
                marks = [ln.split(" ", 2) for ln in open(pfile).read().splitlines()]
                t0 = next((int(t) for _, t, ph in marks if ph == "main"), None)
                if t0 is None:
                    failures += 1
                    continue
                walls.append(r["ms"])
                for _, t, ph in marks:
                    at.setdefault(ph, []).append((int(t) - t0) / 1e6)
            phases = sorted(((ph, statistics.median(v)) for ph, v in at.items()), key=lambda x: x[1])
            rows, prev = [], 0.0
            for ph, t in phases:
                rows.append({"phase": ph, "at_ms": round(t, 3), "step_ms": round(t - prev, 3)})
                prev = t
            wall = statistics.median(walls) if walls else None
            out[name] = {"runs": len(walls), "failures": failures, "phases": rows,
                         "wall_ms": wall,
                         "outside_marks_ms": None if wall is None else round(wall - prev, 3)}
        self.results["profile"] = out

    # -- environment --------------------------------------------------------------

    def detect_aot(self):
        h = self.run([self.rw, "--help"], check=False).stdout.decode()
        a = self.run([self.rw, "aot", "--help"], check=False)
        self.aot = "--aot-cache" in h
        self.aot_subcommand = a.returncode == 0 and "compile" in a.stdout.decode()
        self.aot_reason = None if self.aot else "runwasm --help lists no --aot-cache flag"
        if self.aot and self.aot_subcommand:
            # The flags can exist while the executor cannot compile (an
            # executor without the compiler): ask it to compile hello.wasm.
            probe = os.path.join(self.work, "aot-probe-compile")
            shutil.rmtree(probe, ignore_errors=True)
            p = self.run([self.rw, "--aot-cache", probe, "aot", "compile", self.a.hello], check=False)
            if p.returncode != 0:
                self.aot = False
                self.aot_reason = ("`runwasm aot compile hello.wasm` failed: "
                                   + p.stderr.decode(errors="replace").strip()[-200:])
            shutil.rmtree(probe, ignore_errors=True)
        self.notes.append(
            "AOT: " + ("`--aot-cache` present and `runwasm aot compile` works; policy set per container by the "
                       f"{AOT_ANNOTATION} annotation" if self.aot
                       else f"not available ({self.aot_reason}): the interpreter only"))

    def cgroup_setup(self):
        own = os.readlink("/proc/self/ns/mnt")
        # run.sh's shell is our parent (unshare and bash exec into us).
        try:
            init = os.readlink(f"/proc/{os.getppid()}/ns/mnt")
        except OSError:
            init = None
        unified = any(line.split()[4] == "/sys/fs/cgroup/unified"
                      for line in open("/proc/self/mountinfo"))
        cg2_root = any(line.split()[4] == "/sys/fs/cgroup" and " - cgroup2 " in line
                       for line in open("/proc/self/mountinfo"))
        mode = "cgroup v2 (unified)" if cg2_root else ("cgroup v1 + v2 hybrid" if unified else "cgroup v1 only")
        note = (f"cgroups as the runtimes see them: {mode}; private mount namespace: "
                f"{'unknown' if init is None else ('yes' if own != init else 'no')}")
        if self.a.unmounted_unified:
            note += ("; /sys/fs/cgroup/unified was unmounted in this private mount namespace "
                     "(for every runtime alike: Debian's crun 1.8 refuses the host's hybrid layout "
                     "because its cgroup2 mount lists hugetlb)")
        if self.a.state_tmpfs:
            note += ("; every runtime's state root is on a tmpfs mounted in this namespace "
                     "(as /run is on a usual host; this machine's /run is on its disk)")
        self.notes.append(note)
        return {"mode": mode, "private_mount_namespace": None if init is None else own != init,
                "unified_unmounted_here": self.a.unmounted_unified}

    def meta(self):
        def first_line(cmd):
            try:
                p = subprocess.run(cmd, capture_output=True, env=self.env, timeout=10)
                return (p.stdout or p.stderr).decode(errors="replace").strip().splitlines()[0]
            except Exception:  # noqa: BLE001
                return None

        src = self.a.src
        git = first_line(["git", "-C", src, "rev-parse", "--short", "HEAD"])
        if git and ("fatal" in git or " " in git):
            git = None
        dirty = git is not None and subprocess.run(
            ["git", "-C", src, "status", "--porcelain", "--", "crates"],
            capture_output=True).stdout.strip() != b""
        cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                    if line.startswith("model name")), None)
        return {
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "kernel": platform.release(),
            "cpu": cpu,
            "cpus": os.cpu_count(),
            "loadavg_at_start": open("/proc/loadavg").read().split()[:3],
            "source": src,
            "git": f"git {git}{' (crates/ modified)' if dirty else ''}" if git else f"source {src}",
            "versions": {
                "runwasm": first_line([self.rw, "--version"]),
                "runc": first_line(["runc", "--version"]),
                "crun": first_line(["crun", "--version"]),
                "wasmedge": first_line(["wasmedge", "--version"]),
                "gcc": first_line(["gcc", "--version"]),
                "clang": first_line(["clang", "--version"]),
            },
            "runwasm_links_libwasmedge": "libwasmedge" in subprocess.run(
                ["ldd", self.rw], capture_output=True).stdout.decode(),
            "reps": {"native_true": self.a.reps, "hello": self.a.reps, "compute": self.a.compute_reps,
                     "state_calls": self.a.state_calls},
            "measure": "wall: CLOCK_MONOTONIC around fork..wait4 in bench/measure.c; "
                       "rss: wait4 ru_maxrss (largest single process among the command and the "
                       "descendants it reaped, so `run` includes the container init)",
        }

    # -- ratios and report ---------------------------------------------------------

    def ratios(self):
        R = self.results
        out = []

        def med(sec, name, key="wall_ms"):
            e = sec.get(name) if sec else None
            if not e or not e.get(key):
                return None
            return e[key]["median"]

        def add(key, label, num, den, note=None):
            target = TARGETS.get(key)
            val = num / den if (num is not None and den) else None
            out.append({"key": key, "label": label, "value": val, "target": target,
                        "pass": (val <= target) if (val is not None and target is not None) else None,
                        "note": note})

        h = R.get("hello", {})
        add("hello_wall_vs_wasmedge", "hello run ÷ wasmedge (wall)", med(h, "runwasm"), med(h, "wasmedge"))
        add("hello_rss_vs_wasmedge", "hello run ÷ wasmedge (peak RSS)", med(h, "runwasm", "rss_mib"),
            med(h, "wasmedge", "rss_mib"))
        nt = R.get("native_true", {})
        add("native_wall_vs_crun", "native true ÷ crun (wall)", med(nt, "runwasm"), med(nt, "crun"),
            "crun failed" if "error" in nt.get("crun", {}) else None)
        add("native_wall_vs_runc", "native true ÷ runc (wall)", med(nt, "runwasm"), med(nt, "runc"))
        add("native_rss_vs_crun", "native true ÷ crun (peak RSS)", med(nt, "runwasm", "rss_mib"),
            med(nt, "crun", "rss_mib"))
        add("native_rss_vs_runc", "native true ÷ runc (peak RSS)", med(nt, "runwasm", "rss_mib"),
            med(nt, "runc", "rss_mib"))
        c = R.get("compute", {})
        runs = c.get("runs", {})
        aot = c.get("aot", {})

        def na(tag=""):
            if not aot.get("available"):
                return "not available"
            m = aot.get("modes", {}).get(f"{tag}warm", {})
            return ("skipped: " + m["skipped"]) if m.get("skipped") else None

        add("compute_warm_vs_native", "compute warm cache (always) ÷ native", med(runs, "warm"),
            med(runs, "native"), na())
        add("compute_cold_vs_native", "compute cold cache (always) ÷ native", med(runs, "cold"),
            med(runs, "native"), na())
        add("compute_auto_warm_vs_native", "compute warm cache (auto) ÷ native", med(runs, "auto warm"),
            med(runs, "native"), na("auto "))
        add("compute_auto_cold_vs_native", "compute cold cache (auto) ÷ native", med(runs, "auto cold"),
            med(runs, "native"), na("auto "))
        nn = c.get("n_never")
        nat_never = med(runs, "native") if nn == c.get("n_full") else med(runs, f"native n={nn}")
        scaled = (f"scaled: n={nn} ({100 * c['never_work_fraction']:.1f}% of the work), native at the same n"
                  if nn and nn != c.get("n_full") else None)
        add("compute_never_vs_native", "compute never (interpreter) ÷ native", med(runs, "never"), nat_never,
            scaled)
        add("compute_warm_rss_vs_native", "compute warm (always) ÷ native (peak RSS)",
            med(runs, "warm", "rss_mib"), med(runs, "native", "rss_mib"), na())
        add("compute_never_rss_vs_native", "compute never ÷ native (peak RSS)",
            med(runs, "never", "rss_mib"), med(runs, "native", "rss_mib") if nn == c.get("n_full")
            else med(runs, f"native n={nn}", "rss_mib"))
        s = R.get("state", {})
        add("state_vs_runc", "state ÷ runc state", med(s, "runwasm"), med(s, "runc"))
        add("state_vs_crun", "state ÷ crun state", med(s, "runwasm"), med(s, "crun"))
        sm = med(s, "runwasm")
        out.append({"key": "state_ms", "label": "runwasm state median (ms, absolute)", "value": sm,
                    "target": STATE_TARGET_MS, "pass": (sm <= STATE_TARGET_MS) if sm is not None else None,
                    "note": "absolute, not a ratio"})
        return out

    def print_report(self, doc):
        print()
        print("runwasm benchmark  " + doc["meta"]["date"] + "  " + str(doc["meta"]["git"]))
        for n in doc["notes"]:
            print("  note: " + n)
        m = doc["meta"]
        print(f"  runwasm binary links libwasmedge: {'YES' if m['runwasm_links_libwasmedge'] else 'no'}")
        busy = max(float(m["loadavg_at_start"][0]), float(m["loadavg_at_end"][0])) > 0.75 * (m["cpus"] or 1)
        print(f"  load average {m['loadavg_at_start'][0]} at start, {m['loadavg_at_end'][0]} at end, "
              f"{m['cpus']} CPUs{': the machine was busy, expect noise (compare ratios)' if busy else ''}")
        print()
        fmt = "  {:<34} {:>10} {:>17} {:>10}   {}"
        print(fmt.format("what", "median ms", "p25..p75 ms", "RSS MiB", "notes"))
        print("  " + "-" * 90)

        def rows(title, sec, order=None):
            print(f"  [{title}]")
            for n in (order or [k for k in sec if not k.startswith("_")]):
                e = sec.get(n)
                if e is None:
                    continue
                if "error" in e:
                    print(fmt.format(n, "FAILED", "", "", e["error"][:120]))
                    continue
                w, r = e.get("wall_ms"), e.get("rss_mib")
                if not w:
                    print(fmt.format(n, "no data", "", "", e.get("first_failure", "")[:120]))
                    continue
                note = f"{e['failures']} failed runs: {e.get('first_failure', '')[:80]}" if e.get("failures") else ""
                print(fmt.format(n, f"{w['median']:.2f}", f"{w['p25']:.2f}..{w['p75']:.2f}",
                                 f"{r['median']:.1f}" if r else "", f"n={w['n']} {note}"))

        R = doc["results"]
        if "native_true" in R:
            rows("native busybox true: run", R["native_true"])
        if "hello" in R:
            rows("hello.wasm", R["hello"])
            print("    " + R["hello"]["_aot_note"])
        c = R.get("compute", {})
        if c:
            if "error" in c:
                print("  [compute] FAILED: " + c["error"])
            else:
                rows(f"compute (n={c['n_full']}; never at n={c['n_never']})", c["runs"])
                if not c["aot"]["available"]:
                    print("    AOT cold cache: not available; warm cache: not available (" + c["aot"]["reason"] + ")")
                for mode, m in c["aot"].get("modes", {}).items():
                    if m.get("skipped"):
                        print(f"    {mode} and its cold counterpart: SKIPPED: {m['skipped']}")
                        continue
                    print(f"    {mode}: primed in {m['prime_ms']/1000:.2f}s (exit {m['prime_exit']}), "
                          f"cache files after priming: {m['cache_files_after_prime']}")
                for k, v in c["aot"].items():
                    if k.startswith("cold_cache_files"):
                        print(f"    {k}: {v}")
        if "state" in R:
            rows("state", R["state"])
        for name, p in R.get("profile", {}).items():
            print(f"  [start-up profile: {name}, {p['runs']} runs, median wall {p['wall_ms'] or 0:.2f} ms;"
                  f" marks are medians from runwasm's main()]")
            for row in p["phases"]:
                print(f"    {row['at_ms']:8.2f} ms  (+{row['step_ms']:6.2f})  {row['phase']}")
            print(f"    outside the marks (exec of runwasm, its exit, the helper): {p['outside_marks_ms'] or 0:.2f} ms")
        print()
        print("  ratios (runwasm ÷ peer; lower is better)")
        print("  " + "-" * 90)
        for r in doc["ratios"]:
            v = "n/a" if r["value"] is None else (f"{r['value']:.2f}" if r["key"] == "state_ms" else f"{r['value']:.2f}×")
            t = "" if r["target"] is None else f"target ≤ {r['target']}"
            verdict = {True: "PASS", False: "MISS", None: ""}[r["pass"]]
            print(f"  {r['label']:<44} {v:>8}  {t:<14} {verdict:<5} {r['note'] or ''}")
        print()

    def main(self):
        for rt in self.roots:
            self.cleanup_root(rt)
        self.detect_aot()
        cg = self.cgroup_setup()
        meta = self.meta()
        meta["cgroups"] = cg
        log("notes: " + " | ".join(self.notes))
        t0 = time.time()
        only = set(self.a.only.split(",")) if self.a.only else None
        self.native_bundle = self.hello_bundle = None
        for name, fn in (("native", self.section_native), ("hello", self.section_hello),
                         ("compute", self.section_compute), ("state", self.section_state),
                         ("profile", self.section_profile)):
            if only and name not in only and not (name in ("native", "hello")
                                                  and ({"state", "profile"} & only)):
                continue
            fn()
        meta["seconds"] = round(time.time() - t0, 1)
        meta["loadavg_at_end"] = open("/proc/loadavg").read().split()[:3]
        doc = {"meta": meta, "notes": self.notes, "targets": TARGETS, "state_target_ms": STATE_TARGET_MS,
               "results": self.results}
        doc["ratios"] = self.ratios()
        os.makedirs(self.a.out, exist_ok=True)
        path = os.path.join(self.a.out, "latest.json")
        with open(path + ".tmp", "w") as f:
            json.dump(doc, f, indent=2, ensure_ascii=False)
        os.replace(path + ".tmp", path)
        stamp = meta["date"].replace(":", "").replace("+0000", "Z")
        shutil.copy(path, os.path.join(self.a.out, f"run-{stamp}.json"))
        self.print_report(doc)
        print(f"  wrote {path}")
        for rt in self.roots:
            self.cleanup_root(rt)


def count_files(d):
    n = 0
    for _, _, files in os.walk(d):
        n += len(files)
    return n


def parse():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", required=True, help="scratch directory (bundles, state roots, caches)")
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    ap.add_argument("--src", default=REPO, help="the runwasm source tree that was built")
    ap.add_argument("--runwasm", required=True)
    ap.add_argument("--lib", required=True, help="librunwasm_wasm.so")
    ap.add_argument("--busybox", default="/bin/busybox")
    ap.add_argument("--hello", required=True, help="hello.wasm")
    ap.add_argument("--compute-wasm", required=True)
    ap.add_argument("--compute-native", required=True)
    ap.add_argument("--compute-n", type=int, default=26000)
    ap.add_argument("--probe-n", type=int, default=1200, help="problem size of the interpreter probe")
    ap.add_argument("--reps", type=int, default=50)
    ap.add_argument("--compute-reps", type=int, default=3)
    ap.add_argument("--state-calls", type=int, default=500)
    ap.add_argument("--interp-budget", type=float, default=60.0,
                    help="seconds one interpreter run may take; above, the problem is scaled down")
    ap.add_argument("--run-timeout", type=float, default=600,
                    help="seconds after which any one measured command is killed")
    ap.add_argument("--seed", type=int, default=6)
    ap.add_argument("--profile-reps", type=int, default=30, help="runs per bundle of the start-up profile")
    ap.add_argument("--only", help="comma-separated sections: native,hello,compute,state,profile")
    ap.add_argument("--state-tmpfs", action="store_true",
                    help="run.sh mounted a tmpfs on WORK/state in this mount namespace")
    ap.add_argument("--unmounted-unified", action="store_true",
                    help="run.sh unmounted /sys/fs/cgroup/unified in this mount namespace")
    return ap.parse_args()


if __name__ == "__main__":
    if os.geteuid() != 0:
        sys.exit("bench.py: must run as root")
    Bench(parse()).main()
