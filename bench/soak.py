#!/usr/bin/env python3
"""Soak test: many `runwasm run` cycles of a Wasm module and of a native
busybox, then a look for anything left behind and at the runtime's memory.

Run it through bench/soak.sh, which builds what it needs; by hand:

    soak.py --runwasm BIN --lib LIBRUNWASM_WASM --measure MEASURE \\
            --hello HELLO.wasm --busybox /bin/busybox [--cycles 1000] [--work DIR]

Each cycle is `runwasm --root ROOT run --bundle B ID` of the kind's bundle,
forked by the `measure` helper (bench/measure.c), which reports wait4's
ru_maxrss: the peak resident set of runwasm and of the container init it
reaped (the peak of the runwasm process tree). Every 10th cycle also runs
create, start and delete as separate commands and records each one's
ru_maxrss: runwasm alone (create does not reap init, start and delete fork
nothing here).

A leak, reported with a non-zero exit status:
- a cycle that fails (non-zero status, wrong output);
- anything left after the cycles: a process whose command line, cwd, root
  or open file is under the work directory; a cgroup directory named
  soak-* under runwasm/ in any hierarchy; a mount under the work directory;
  any file under the state root; an fd more in this script's process;
- peak RSS growing: the median over the last 100 cycles of a kind above the
  median over its first 100 by more than 5 % + 1 MiB (for `run`, and for
  each of create/start/delete over their first and last 10 samples).
The system-wide count of open files (/proc/sys/fs/file-nr) before and after
is printed for information (other processes move it).
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

CGROUP_ROOT = "/sys/fs/cgroup"
ID_PREFIX = "soak-"


def log(msg):
    print(f"soak: {msg}", file=sys.stderr, flush=True)


class Soak:
    def __init__(self, a):
        self.a = a
        self.work = os.path.abspath(a.work)
        self.root = os.path.join(self.work, "state")
        self.resfile = os.path.join(self.work, "measure.out")
        self.env = dict(os.environ, RUNWASM_WASM_LIB=a.lib)
        self.failures = []

    # --- set-up -----------------------------------------------------------

    def bundle(self, name, args, files):
        d = os.path.join(self.work, name)
        rootfs = os.path.join(d, "rootfs")
        os.makedirs(os.path.join(rootfs, "bin"), exist_ok=True)
        for src, dst in files:
            shutil.copy(src, os.path.join(rootfs, dst.lstrip("/")))
        subprocess.run([self.a.runwasm, "spec", "--bundle", d], check=True)
        cfg_path = os.path.join(d, "config.json")
        with open(cfg_path) as f:
            cfg = json.load(f)
        cfg["process"]["args"] = args
        cfg["process"]["env"] = ["PATH=/bin"]
        cfg["process"]["terminal"] = False
        with open(cfg_path, "w") as f:
            json.dump(cfg, f)
        return d

    def setup(self):
        if os.path.exists(self.work):
            shutil.rmtree(self.work)
        os.makedirs(self.work)
        self.bundles = {
            "wasm": (self.bundle("wasm", ["/hello.wasm"], [(self.a.hello, "/hello.wasm")]),
                     "Hello from Wasm!\n"),
            "native": (self.bundle("native", ["/bin/busybox", "true"],
                                   [(self.a.busybox, "/bin/busybox")]), ""),
        }

    # --- commands -----------------------------------------------------------

    def rw(self, *args):
        return [self.a.runwasm, "--root", self.root, *args]

    def measure(self, cmd, timeout=60, stdout=subprocess.PIPE):
        """Runs cmd through the measure helper: (status, wall_s, maxrss_kib, stdout).
        A command that leaves a process behind (create) must not get a pipe:
        the process would hold it open."""
        p = subprocess.run([self.a.measure, "-t", str(timeout), self.resfile] + cmd,
                           stdin=subprocess.DEVNULL, stdout=stdout,
                           stderr=subprocess.PIPE if stdout == subprocess.PIPE else stdout,
                           env=self.env)
        if p.returncode != 0:
            raise RuntimeError(f"measure failed on {cmd}: {(p.stderr or b'').decode(errors='replace')}")
        with open(self.resfile) as f:
            ns, rss, code, timed_out = f.read().split()
        if timed_out == "1":
            code = "timeout"
        out = p.stdout.decode(errors="replace") if p.stdout is not None else ""
        return int(code) if code != "timeout" else code, int(ns) / 1e9, int(rss), out

    def fail(self, what):
        self.failures.append(what)
        log("FAIL: " + what)

    # --- leftovers ------------------------------------------------------------

    def dir_inodes(self):
        out = set()
        for dirpath, dirnames, _ in os.walk(self.work):
            depth = dirpath[len(self.work):].count(os.sep)
            if depth > 3:
                dirnames[:] = []
                continue
            try:
                st = os.lstat(dirpath)
                out.add((st.st_dev, st.st_ino))
            except OSError:
                pass
        return out

    def processes(self):
        me = os.getpid()
        ours = self.dir_inodes()
        found = []
        for name in os.listdir("/proc"):
            if not name.isdigit() or int(name) == me:
                continue
            pid = int(name)
            try:
                with open(f"/proc/{pid}/stat") as f:
                    state = f.read().rsplit(")", 1)[1].split()[0]
                if state in ("Z", "X"):
                    continue
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            why = None
            if self.work in cmdline:
                why = f"cmdline {cmdline!r}"
            for link in ("cwd", "root"):
                if why:
                    break
                p = f"/proc/{pid}/{link}"
                try:
                    if os.readlink(p).startswith(self.work + "/"):
                        why = f"{link} {os.readlink(p)}"
                    st = os.stat(p)
                    if (st.st_dev, st.st_ino) in ours:
                        why = f"{link} is one of the soak's directories"
                except OSError:
                    pass
            if not why:
                try:
                    for fd in os.listdir(f"/proc/{pid}/fd"):
                        t = os.readlink(f"/proc/{pid}/fd/{fd}")
                        if t.startswith(self.work + "/"):
                            why = f"fd {fd} -> {t}"
                            break
                except OSError:
                    pass
            if why:
                found.append(f"pid {pid}: {why}")
        return found

    def cgroups(self):
        if os.path.exists(os.path.join(CGROUP_ROOT, "cgroup.controllers")):
            hierarchies = [CGROUP_ROOT]
        else:
            hierarchies = [os.path.join(CGROUP_ROOT, h) for h in sorted(os.listdir(CGROUP_ROOT))
                           if os.path.isdir(os.path.join(CGROUP_ROOT, h))]
        left = []
        for h in hierarchies:
            parent = os.path.join(h, "runwasm")
            try:
                names = os.listdir(parent)
            except OSError:
                continue
            left += [os.path.join(parent, n) for n in names
                     if n.startswith(ID_PREFIX) and os.path.isdir(os.path.join(parent, n))]
        return left

    def mounts(self):
        with open("/proc/self/mountinfo") as f:
            points = [line.split(" ")[4] for line in f]
        points = [p.encode().decode("unicode_escape") for p in points]
        return [p for p in points if p.startswith(self.work + "/")]

    def files(self):
        out = []
        for dirpath, dirnames, filenames in os.walk(self.root):
            out += [os.path.join(dirpath, n) for n in dirnames + filenames]
        return out

    def leftovers(self):
        return {"processes": self.processes(), "cgroups": self.cgroups(),
                "mounts": self.mounts(), "files in the state root": self.files()}

    # --- the soak -------------------------------------------------------------

    def cycle_lifecycle(self, kind, i, samples):
        b, want = self.bundles[kind]
        cid = f"{ID_PREFIX}{kind}-lc-{i}"
        for step, cmd in (("create", self.rw("create", "--bundle", b, cid)),
                          ("start", self.rw("start", cid)),
                          ("delete", None)):
            if step == "delete":
                # Wait for the container's exit (it prints and ends).
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline:
                    st = subprocess.run(self.rw("state", cid), stdout=subprocess.PIPE,
                                        stderr=subprocess.DEVNULL, env=self.env)
                    if st.returncode == 0 and json.loads(st.stdout)["status"] == "stopped":
                        break
                    time.sleep(0.005)
                cmd = self.rw("delete", cid)
            with open(os.path.join(self.work, "lifecycle.out"), "ab") as out:
                code, _, rss, _ = self.measure(cmd, stdout=out)
            if code != 0:
                self.fail(f"{kind} lifecycle {i}: {step} exited {code}")
                subprocess.run(self.rw("delete", "--force", cid), env=self.env)
                return
            samples[step].append(rss)

    def run_kind(self, kind):
        b, want = self.bundles[kind]
        rss, walls = [], []
        lc = {"create": [], "start": [], "delete": []}
        t0 = time.monotonic()
        for i in range(self.a.cycles):
            cid = f"{ID_PREFIX}{kind}-{i}"
            code, wall, maxrss, out = self.measure(self.rw("run", "--bundle", b, cid))
            if code != 0 or out != want:
                self.fail(f"{kind} cycle {i}: status {code}, stdout {out!r}")
                subprocess.run(self.rw("delete", "--force", cid), env=self.env)
            rss.append(maxrss)
            walls.append(wall)
            if i % 10 == 0:
                self.cycle_lifecycle(kind, i, lc)
            if (i + 1) % 100 == 0:
                log(f"{kind}: {i + 1}/{self.a.cycles} cycles, {time.monotonic() - t0:.0f} s")
        return {"rss": rss, "wall": walls, "lifecycle": lc, "seconds": time.monotonic() - t0}

    @staticmethod
    def trend(values, window):
        w = min(window, len(values) // 2)
        first, last = statistics.median(values[:w]), statistics.median(values[-w:])
        return first, last, last > first * 1.05 + 1024

    def main(self):
        self.setup()
        fds_before = len(os.listdir("/proc/self/fd"))
        with open("/proc/sys/fs/file-nr") as f:
            files_before = int(f.read().split()[0])
        results = {}
        for kind in ("wasm", "native"):
            results[kind] = self.run_kind(kind)
        time.sleep(0.5)  # a killed process takes a moment to let go
        left = self.leftovers()
        fds_after = len(os.listdir("/proc/self/fd"))
        with open("/proc/sys/fs/file-nr") as f:
            files_after = int(f.read().split()[0])

        print(f"\nsoak: {self.a.cycles} run cycles per kind ({self.a.runwasm})\n")
        w = min(100, self.a.cycles // 2)
        print(f"{'':28}{f'first {w} (median)':>20}{f'last {w} (median)':>20}{'min':>9}{'max':>9}")
        summary = {"cycles": self.a.cycles, "runwasm": self.a.runwasm, "kinds": {}}
        for kind, r in results.items():
            first, last, grew = self.trend(r["rss"], 100)
            print(f"{kind + ' run: peak RSS KiB':28}{first:>20.0f}{last:>20.0f}"
                  f"{min(r['rss']):>9}{max(r['rss']):>9}")
            wf, wl, _ = self.trend(r["wall"], 100)
            print(f"{kind + ' run: wall ms':28}{wf * 1000:>20.1f}{wl * 1000:>20.1f}"
                  f"{min(r['wall']) * 1000:>9.1f}{max(r['wall']) * 1000:>9.1f}")
            k = {"run_rss_first": first, "run_rss_last": last, "run_wall_first": wf,
                 "run_wall_last": wl, "seconds": r["seconds"]}
            if grew:
                self.fail(f"{kind}: run's peak RSS grows: median {first:.0f} KiB over the first "
                          f"100 cycles, {last:.0f} KiB over the last 100")
            for step, v in r["lifecycle"].items():
                if len(v) < 2:
                    continue
                f1, l1, g1 = self.trend(v, 10)
                print(f"{kind + ' ' + step + ': peak RSS KiB':28}{f1:>20.0f}{l1:>20.0f}"
                      f"{min(v):>9}{max(v):>9}")
                k[f"{step}_rss_first"], k[f"{step}_rss_last"] = f1, l1
                if g1:
                    self.fail(f"{kind}: {step}'s peak RSS grows: {f1:.0f} -> {l1:.0f} KiB")
            summary["kinds"][kind] = k
        print("\n(create/start/delete: every 10th cycle, first and last 10 samples;"
              " runwasm alone, no container init in the figure)")
        print(f"\nfds of this script: {fds_before} before, {fds_after} after")
        print(f"open files system-wide (/proc/sys/fs/file-nr, informational): "
              f"{files_before} before, {files_after} after")
        if fds_after != fds_before:
            self.fail(f"this script's fds went from {fds_before} to {fds_after}")
        print("\nleft behind:")
        for what, items in left.items():
            print(f"  {what}: {len(items)}")
            for i in items[:20]:
                print(f"    {i}")
            if items:
                self.fail(f"{len(items)} {what} left behind")
        summary["leftovers"] = {k: len(v) for k, v in left.items()}
        summary["failures"] = self.failures
        if self.a.json:
            with open(self.a.json, "w") as f:
                json.dump(summary, f, indent=2)
        if not self.failures and not self.a.keep:
            shutil.rmtree(self.work, ignore_errors=True)
        if self.failures:
            print(f"\nsoak: LEAK or failure ({len(self.failures)}):")
            for f in self.failures[:30]:
                print(f"  {f}")
            return 1
        print("\nsoak: no leak")
        return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runwasm", required=True)
    ap.add_argument("--lib", required=True, help="librunwasm_wasm.so")
    ap.add_argument("--measure", required=True, help="the bench/measure.c helper")
    ap.add_argument("--hello", required=True, help="hello.wasm")
    ap.add_argument("--busybox", default="/bin/busybox")
    ap.add_argument("--cycles", type=int, default=1000)
    ap.add_argument("--work", default="/var/tmp/runwasm-soak")
    ap.add_argument("--json", help="write the summary here")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    a = ap.parse_args()
    if os.geteuid() != 0:
        log("must run as root (containers, namespaces, cgroups)")
        return 2
    return Soak(a).main()


if __name__ == "__main__":
    sys.exit(main())
