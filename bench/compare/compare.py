"""bench/compare/compare.py: the scenarios of bench/compare.sh (ned against
its peers), run by that script with the paths of the programs it built.

Every peer is started the way its own documentation says, with a config
this file writes under WORK, in a new session; after every run the whole
process tree it started is killed (by pid, from a /proc walk), and at the end
a sweep checks that no process whose command line or executable points into
WORK or the bench build is left. Progress goes to stderr, the Markdown table
to stdout, then the count of processes left behind (killed then). Exit
status 0 once the table is printed: a peer that fails a scenario gets a
cell saying so.
"""

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
import xmlrpc.client

P = argparse.ArgumentParser()
for name in ("ned", "baseline", "true", "pause", "lines", "stamp", "orphans", "work", "target"):
    P.add_argument("--" + name, required=True)
P.add_argument("only", nargs="*", help="scenario letters (a-f) to run; all by default")
A = P.parse_args()
WORK = A.work
PEERS = ["ned", "posix_spawn", "supervisord", "runit", "s6", "honcho", "tini"]


def log(*a):
    print("compare:", *a, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- processes

def procs():
    """{pid: (ppid, exe)} for every process."""
    out = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            try:
                exe = os.readlink(f"/proc/{d}/exe")
            except OSError:
                exe = ""
            out[int(d)] = (ppid, exe)
        except (OSError, IndexError, ValueError):
            pass
    return out


def tree(root, table=None):
    """root and all its descendants, as {pid: exe}."""
    table = table if table is not None else procs()
    kids = {}
    for pid, (ppid, _) in table.items():
        kids.setdefault(ppid, []).append(pid)
    out, todo = {}, [root]
    while todo:
        p = todo.pop()
        if p in table:
            out[p] = table[p][1]
        todo += kids.get(p, [])
    return out


def kill_tree(root):
    """SIGKILLs root's whole tree (repeatedly, so late forks die too)."""
    for _ in range(50):
        t = tree(root)
        if not t:
            return
        for pid in t:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.02)


def kb(pid, key):
    """A field of /proc/PID/status or smaps_rollup, in KiB (0 if gone)."""
    try:
        for name in ("status", "smaps_rollup"):
            with open(f"/proc/{pid}/{name}") as f:
                for line in f:
                    if line.startswith(key + ":"):
                        return int(line.split()[1])
    except OSError:
        pass
    return 0


def start(argv, cwd=WORK, out=subprocess.DEVNULL, env=None):
    return subprocess.Popen(argv, cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, start_new_session=True,
                            env={**os.environ, "NO_COLOR": "1", **(env or {})})


def wait_until(pred, timeout, step=0.002):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return None


def count_exe(root, exe):
    time.sleep(0.003)  # a /proc walk costs ~1 ms; keep the poller off the CPU
    return sum(1 for e in tree(root).values() if e == exe)


def gone(root, extra=()):
    t = procs()
    return not tree(root, t) and not any(p in t for p in extra)


def sh(path, text, mode=0o755):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)


def fresh(name):
    d = os.path.join(WORK, name)
    subprocess.run(["rm", "-rf", d], check=True)
    os.makedirs(d)
    return d


# ---------------------------------------------------------------- peers' configs

def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def supervisord_conf(d, programs):
    """programs: [(name, command, {key: value})]; returns (argv, rpc)."""
    port = free_port()
    lines = [
        "[supervisord]", "nodaemon=true", f"logfile={d}/supervisord.log",
        f"pidfile={d}/supervisord.pid", f"childlogdir={d}", "minfds=4096",
        "[inet_http_server]", f"port=127.0.0.1:{port}",
        "[rpcinterface:supervisor]",
        "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
    ]
    for name, cmd, extra in programs:
        lines += [f"[program:{name}]", f"command={cmd}"]
        lines += [f"{k}={v}" for k, v in extra.items()]
    sh(f"{d}/supervisord.conf", "\n".join(lines) + "\n", 0o644)
    rpc = xmlrpc.client.ServerProxy(f"http://127.0.0.1:{port}/RPC2")
    return ["supervisord", "-c", f"{d}/supervisord.conf"], rpc


def states(rpc):
    try:
        return [p["statename"] for p in rpc.supervisor.getAllProcessInfo()]
    except (OSError, xmlrpc.client.Error):
        return []


def svdir(d, names, run, log_run=None):
    """A scan directory for runsvdir or s6-svscan: one service per name,
    ./run a symlink to RUN (a program taking no arguments) or a script."""
    for n in names:
        os.makedirs(f"{d}/{n}")
        if run.startswith("#!"):
            sh(f"{d}/{n}/run", run.replace("{name}", n))
        else:
            os.symlink(run, f"{d}/{n}/run")
        if log_run:
            os.makedirs(f"{d}/{n}/log/main")
            sh(f"{d}/{n}/log/run", log_run)


def runit_stop(p, d):
    """runit's own shutdown (its stage 3): runsvdir exits on TERM without
    touching the services; `sv exit` stops each service and its runsv."""
    p.send_signal(signal.SIGTERM)
    svcs = sorted(os.path.join(d, n) for n in os.listdir(d))
    subprocess.run(["sv", "-w", "10", "exit"] + svcs, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)


def stop(peer, p, d):
    if peer == "runit":
        runit_stop(p, d)
    else:
        p.send_signal(signal.SIGTERM)


# ---------------------------------------------------------------- results

CELLS = {}   # (row, peer) -> (value or None, text)
ROWS = []


def cell(row, peer, value, unit=None, why=None):
    if row not in ROWS:
        ROWS.append(row)
    CELLS[(row, peer)] = (value, unit, why)


def fmt(v, unit):
    if unit == "s":
        return f"{v * 1000:.1f} ms" if v < 1 else f"{v:.2f} s"
    if unit == "KiB":
        return f"{v / 1024:.1f} MiB" if v >= 1024 else f"{v:.0f} KiB"
    return f"{v:g} {unit}"


def table():
    out = ["| scenario | " + " | ".join(PEERS) + " |", "|---" * (len(PEERS) + 1) + "|"]
    for row in ROWS:
        ned = CELLS.get((row, "ned"), (None,))[0]
        cells = []
        for peer in PEERS:
            v, unit, why = CELLS.get((row, peer), (None, None, None))
            if v is None:
                cells.append(f"—: {why}" if why else "")
            elif ned:
                cells.append(f"{fmt(v, unit)} ({v / ned:.2f}×)")
            else:
                cells.append(fmt(v, unit))
        out.append(f"| {row} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def guarded(row, peer, fn):
    """Runs one scenario for one peer; a failure becomes the cell's reason."""
    log(f"{row}: {peer}")
    try:
        fn()
    except Exception as e:  # noqa: BLE001 — one peer failing must not stop the table
        log(f"{row}: {peer} failed: {e}")
        cell(row, peer, None, why=f"failed ({str(e)[:60]})")


# ---------------------------------------------------------------- (a) 500 short programs

N_SHORT = 500
ROW_A = f"(a) start + reap {N_SHORT} short programs (median)"


def a_ned_and_floor():
    """ned and posix_spawn timed by the same hyperfine calls, in 3 rounds,
    so load from other work lands on both (medians over all runs)."""
    script = f"{WORK}/short.lua"
    sh(script, """local L4 = require("L4")
local prog, n, window = arg[1], tonumber(arg[2]), 64
local ld, started, done, failed = L4.default_loader, 0, 0, 0
local start_one
local function on_exit(code)
  done = done + 1
  if code ~= 0 then failed = failed + 1 end
  if started < n then start_one() end
  if done == n and failed > 0 then error(failed .. " failed") end
end
function start_one()
  started = started + 1
  ld:startv({ log = { "t" } }, prog):exit_handler(on_exit)
end
for _ = 1, math.min(window, n) do start_one() end
""", 0o644)
    ned = f"{A.ned} --wait-and-exit {script} {A.true} {N_SHORT}"
    floor = f"{A.baseline} {N_SHORT} {A.true}"
    times = ([], [])
    for r in range(3):
        js = f"{WORK}/a-{r}.json"
        subprocess.run(["hyperfine", "-N", "--warmup", "2", "--runs", "10", "--export-json", js,
                        "--style", "none", ned, floor], check=True, stdout=subprocess.DEVNULL)
        res = json.load(open(js))["results"]
        times[0].extend(res[0]["times"])
        times[1].extend(res[1]["times"])
    cell(ROW_A, "ned", statistics.median(times[0]), "s")
    cell(ROW_A, "posix_spawn", statistics.median(times[1]), "s")


def a_supervisord():
    times = []
    for _ in range(3):
        d = fresh("a-sd")
        argv, rpc = supervisord_conf(d, [(f"t{i}", A.true, {"startsecs": 0, "autorestart": "false"})
                                         for i in range(N_SHORT)])
        t0 = time.monotonic()
        p = start(argv)
        try:
            ok = wait_until(lambda: (s := states(rpc)) and len(s) == N_SHORT
                            and all(x == "EXITED" for x in s), 60, 0.05)
            times.append(time.monotonic() - t0)
            if not ok:
                raise RuntimeError("not all exited within 60 s")
            p.send_signal(signal.SIGTERM)
            p.wait(30)
        finally:
            kill_tree(p.pid)
    cell(ROW_A, "supervisord", statistics.median(times), "s")


# ---------------------------------------------------------------- (b) 100 live + (e) shutdown

N_LIVE = 100
ROW_B = f"(b) {N_LIVE} long-running children all running (median)"
ROW_M = f"(b) supervisor RSS with {N_LIVE} children, sum over its processes"
ROW_P = f"(b) the same as PSS (shared pages split)"
ROW_E = f"(e) SIGTERM until supervisor and {N_LIVE} children are gone (median)"


def live_setup(peer, d):
    names = [f"p{i}" for i in range(N_LIVE)]
    if peer == "ned":
        script = f"{d}/live.lua"
        sh(script, """local sv = require("ned.supervise").new()
for i = 1, tonumber(arg[2]) do sv:add("p" .. i, { argv = { arg[1] }, restart = "always" }) end
sv:start()
""", 0o644)
        return [A.ned, script, A.pause, str(N_LIVE)]
    if peer == "supervisord":
        return supervisord_conf(d, [(n, A.pause, {"startsecs": 0, "autorestart": "true"})
                                    for n in names])[0]
    if peer == "runit":
        svdir(f"{d}/sv", names, A.pause)
        return ["runsvdir", f"{d}/sv"]
    if peer == "s6":
        svdir(f"{d}/sv", names, A.pause)
        return ["s6-svscan", f"{d}/sv"]
    if peer == "honcho":
        sh(f"{d}/Procfile", "".join(f"{n}: {A.pause}\n" for n in names), 0o644)
        return ["honcho", "-f", f"{d}/Procfile", "start"]
    raise ValueError(peer)


def b_e(peer):
    ups, rss, pss, downs = [], [], [], []
    for r in range(5):
        d = fresh(f"b-{peer}")
        argv = live_setup(peer, d)
        t0 = time.monotonic()
        p = start(argv)
        try:
            if not wait_until(lambda: count_exe(p.pid, A.pause) >= N_LIVE, 30):
                raise RuntimeError(f"only {count_exe(p.pid, A.pause)} of {N_LIVE} came up")
            ups.append(time.monotonic() - t0)
            time.sleep(0.5)  # let the supervisor settle before reading its memory
            own = [pid for pid, exe in tree(p.pid).items() if exe != A.pause]
            rss.append(sum(kb(pid, "VmRSS") for pid in own))
            pss.append(sum(kb(pid, "Pss") for pid in own))
            if r == 0:
                kinds = sorted({os.path.basename(tree(p.pid).get(pid, "?")) for pid in own})
                log(f"{peer}: {len(own)} own processes ({', '.join(kinds)})")
            kids = list(tree(p.pid))
            t1 = time.monotonic()
            stop(peer, p, f"{d}/sv")
            if not wait_until(lambda: p.poll() is not None and gone(p.pid, kids), 30):
                raise RuntimeError("not all gone 30 s after SIGTERM")
            downs.append(time.monotonic() - t1)
        finally:
            kill_tree(p.pid)
            if peer == "runit":
                for pid, (_, exe) in procs().items():
                    if exe == A.pause:  # runsv's services, were they left
                        os.kill(pid, signal.SIGKILL)
    cell(ROW_B, peer, statistics.median(ups), "s")
    cell(ROW_M, peer, statistics.median(rss), "KiB")
    cell(ROW_P, peer, statistics.median(pss), "KiB")
    cell(ROW_E, peer, statistics.median(downs), "s")


# ---------------------------------------------------------------- (c) logs

WRITERS, LINES = 8, 20000
ROW_C = f"(c) {WRITERS} writers × {LINES:,} lines into a log file, until all written (median)"


def count_lines(paths):
    n = 0
    for path in paths:
        try:
            with open(path, "rb") as f:
                n += f.read().count(b"a line of a log throughput test\n")
        except OSError:
            pass
    return n


def c_run(peer):
    times = []
    total = WRITERS * LINES
    names = [f"w{i}" for i in range(1, WRITERS + 1)]
    for _ in range(5):
        d = fresh(f"c-{peer}")
        files = [f"{d}/out.txt"]
        out = None
        if peer == "ned":
            sh(f"{d}/logs.lua", """local L4 = require("L4")
for i = 1, tonumber(arg[2]) do
  L4.default_loader:startv({ log = { "w" .. i } }, arg[1], "w" .. i, arg[3])
end
""", 0o644)
            argv = [A.ned, "--wait-and-exit", f"{d}/logs.lua", A.lines, str(WRITERS), str(LINES)]
            out = open(files[0], "wb")
        elif peer == "honcho":
            sh(f"{d}/Procfile", "".join(f"{n}: {A.lines} {n} {LINES}\n" for n in names), 0o644)
            argv = ["honcho", "-f", f"{d}/Procfile", "start"]
            out = open(files[0], "wb")
        elif peer == "supervisord":
            files = [f"{d}/{n}.log" for n in names]
            argv, rpc = supervisord_conf(d, [(n, f"{A.lines} {n} {LINES}", {
                "startsecs": 0, "autorestart": "false", "stdout_logfile": f"{d}/{n}.log",
                "stdout_logfile_maxbytes": 0}) for n in names])
        else:  # runit + svlogd, s6 + s6-log: a service with a log service
            files = [f"{d}/sv/{n}/log/main/current" for n in names]
            # Both loggers rotate at about 1 MB and 100 kB by default: a
            # 16 MB current file holds the whole run, as ned's one file does.
            logger = "svlogd" if peer == "runit" else "s6-log s16000000"
            # The writer is a service, so after its lines it must stay up (or
            # be restarted and write them again): it then waits in pause.
            svdir(f"{d}/sv", names, f"#!/bin/sh\n{A.lines} {{name}} {LINES}\nexec {A.pause}\n",
                  f"#!/bin/sh\nexec {logger} ./main\n")
            if peer == "runit":
                for n in names:
                    sh(f"{d}/sv/{n}/log/main/config", "s16000000\n", 0o644)
            argv = ["runsvdir" if peer == "runit" else "s6-svscan", f"{d}/sv"]
        t0 = time.monotonic()
        p = start(argv, out=out or subprocess.DEVNULL)
        try:
            if peer in ("ned", "honcho"):
                p.wait(120)
                took = time.monotonic() - t0
            else:
                if not wait_until(lambda: count_lines(files) >= total, 120, 0.01):
                    raise RuntimeError(f"{count_lines(files)} of {total} lines after 120 s")
                took = time.monotonic() - t0
                kids = list(tree(p.pid))
                stop(peer, p, f"{d}/sv")
                wait_until(lambda: gone(p.pid, kids), 30)
            got = count_lines(files)
            if got != total:
                raise RuntimeError(f"{got} of {total} lines")
            times.append(took)
        finally:
            kill_tree(p.pid)
            if out:
                out.close()
    cell(ROW_C, peer, statistics.median(times), "s")


# ---------------------------------------------------------------- (d) restart latency

ROW_D = "(d) restart after a crash: exit → next run started (median)"


def d_run(peer, restarts):
    d = fresh(f"d-{peer}")
    stamps = f"{d}/stamp.log"
    if peer == "ned":
        sh(f"{d}/crash.lua", """local sv = require("ned.supervise").new()
sv:add("crash", { argv = { arg[1], arg[2] }, restart = "always",
  backoff = { initial = 0, max = 0 } })
sv:start()
""", 0o644)
        argv = [A.ned, f"{d}/crash.lua", A.stamp, stamps]
    elif peer == "supervisord":
        argv, _ = supervisord_conf(d, [("crash", A.stamp, {
            "startsecs": 0, "autorestart": "true", "directory": d})])
    else:
        svdir(f"{d}/sv", ["crash"], A.stamp)
        # runsv runs ./run with no arguments, s6-supervise with the
        # service's name: stamp writes to that (relative) file.
        stamps = f"{d}/sv/crash/" + ("stamp.log" if peer == "runit" else "crash")
        argv = ["runsvdir" if peer == "runit" else "s6-svscan", f"{d}/sv"]

    def marks():
        try:
            with open(stamps) as f:
                return [ln.split() for ln in f if ln.endswith("\n")]
        except OSError:
            return []
    p = start(argv)
    try:
        if not wait_until(lambda: sum(1 for m in marks() if m[0] == "S") > restarts,
                          restarts * 1.5 + 10, 0.01):
            raise RuntimeError(f"{sum(1 for m in marks() if m[0] == 'S') - 1} restarts seen")
        kids = list(tree(p.pid))
        stop(peer, p, f"{d}/sv")
        wait_until(lambda: gone(p.pid, kids), 30)
    finally:
        kill_tree(p.pid)
    m = marks()
    lat = [(int(m[i + 1][1]) - int(m[i][1])) / 1e9 for i in range(len(m) - 1)
           if m[i][0] == "E" and m[i + 1][0] == "S"]
    cell(ROW_D, peer, statistics.median(lat[:restarts]), "s")
    log(f"{peer}: {len(lat)} restarts")


# ---------------------------------------------------------------- (f) zombies as PID 1

N_ORPHANS = 1000
ROW_F = f"(f) PID 1 in a new PID namespace reaps {N_ORPHANS} orphans (median; zombies left)"


def f_run(peer):
    times, left = [], 0
    script = f"{WORK}/orphans.lua"
    sh(script, 'require("L4").default_loader:startv({ log = { "o" } }, arg[1], arg[2])\n', 0o644)
    pid1 = ([A.ned, "--wait-and-exit", script] if peer == "ned" else ["tini", "--"])
    for _ in range(7):
        r = subprocess.run(["unshare", "--user", "--map-root-user", "--pid", "--fork", "--mount-proc"]
                           + pid1 + [A.orphans, str(N_ORPHANS)], capture_output=True, text=True,
                           timeout=60)
        line = [ln for ln in r.stdout.splitlines() if "orphans:" in ln]
        if not line:
            raise RuntimeError(f"no result (exit {r.returncode}: {r.stderr.strip()[:80]})")
        words = line[0].split("orphans:")[1].split()
        times.append(float(words[2]) / 1000)
        left = max(left, int(words[5].rstrip(",")), int(words[7]))
    cell(ROW_F, peer, statistics.median(times), "s")
    if left:
        log(f"{peer}: {left} processes left behind")
        CELLS[(ROW_F, peer)] = (statistics.median(times), f"s, {left} LEFT", None)


# ---------------------------------------------------------------- main

def sweep():
    """Processes of this run still alive: exe in the bench build, or a
    command line naming WORK."""
    left = []
    for pid, (_, exe) in procs().items():
        if pid == os.getpid():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read()
        except OSError:
            continue
        if exe.startswith(A.target + "/") or WORK.encode() in cmd:
            left.append((pid, cmd.replace(b"\0", b" ")[:80].decode(errors="replace")))
    return left


def main():
    no = {
        ROW_A: {"runit": "services only (an exit is restarted)", "s6": "services only (an exit is restarted)",
                "honcho": "stops all when one exits", "tini": "runs one child"},
        ROW_B: {"posix_spawn": "not a supervisor", "tini": "runs one child"},
        ROW_C: {"posix_spawn": "no log capture", "tini": "no log capture (passes stdout through)"},
        ROW_D: {"posix_spawn": "not a supervisor", "honcho": "no restarts (stops all when one exits)",
                "tini": "no restarts"},
        ROW_F: {"posix_spawn": "not an init", "supervisord": "not an init", "runit": "runit-init not run here",
                "s6": "s6-svscan as PID 1 not run here", "honcho": "not an init"},
    }
    def want(letter):
        return not A.only or letter in A.only
    if want("a"):
        guarded(ROW_A, "ned", a_ned_and_floor)
        guarded(ROW_A, "supervisord", a_supervisord)
    if want("b") or want("e"):
        for peer in ("ned", "supervisord", "runit", "s6", "honcho"):
            guarded(ROW_B, peer, lambda: b_e(peer))
    if want("c"):
        for peer in ("ned", "honcho", "supervisord", "runit", "s6"):
            guarded(ROW_C, peer, lambda: c_run(peer))
    if want("d"):
        for peer, k in (("ned", 50), ("supervisord", 20), ("runit", 5), ("s6", 5)):
            guarded(ROW_D, peer, lambda: d_run(peer, k))
    if want("f"):
        for peer in ("ned", "tini"):
            guarded(ROW_F, peer, lambda: f_run(peer))
    for row, why in no.items():
        for peer, text in why.items():
            if row in ROWS and (row, peer) not in CELLS:
                cell(row, peer, None, why=text)
    for row in (r for r in (ROW_M, ROW_P, ROW_E) if r in ROWS):
        for peer in ("posix_spawn", "tini"):
            cell(row, peer, None, why=no[ROW_B][peer])
    ROWS.sort(key=lambda r: r[:3])
    print(table())
    left = sweep()
    for pid, cmd in left:
        log(f"left behind: {pid} {cmd}")
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    print(f"\nProcesses of the run left after it: {len(left)}" + (" (killed now)" if left else ""))
    return 0


sys.exit(main())
