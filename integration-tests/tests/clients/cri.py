#!/usr/bin/python3
"""A minimal CRI client: the calls the kubelet makes for a pod whose
RuntimeClass has `handler: runwasm`, for containerd's CRI plugin (crictl is
not packaged in Debian). gRPC through Debian's python3-grpcio; the few CRI v1
messages it needs are encoded by hand (field numbers from k8s.io/cri-api's
api.proto). Used by integration-tests/tests/containerd.rs and
docs/containerd-kubernetes.md.

  cri.py SOCK version
  cri.py SOCK runp HANDLER POD LOGDIR CGROUP_PARENT        -> pod id
  cri.py SOCK create POD_ID POD CGROUP_PARENT NAME LOGDIR IMAGE [CMD ARGS...]
                                                            -> container id
  cri.py SOCK start|rm ID
  cri.py SOCK status ID                                    -> JSON
  cri.py SOCK exec ID TIMEOUT CMD...                       -> JSON
  cri.py SOCK stop ID TIMEOUT
  cri.py SOCK stopp|rmp POD_ID

Pods use the host network (no CNI needed); CGROUP_PARENT may be "".
"""
import json, sys
import grpc

def varint(n):
    out = bytearray()
    n &= (1 << 64) - 1
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)

def enc(msg):
    # msg: [(field, value)]; int -> varint, str/bytes -> bytes, list -> message
    out = bytearray()
    for field, val in msg:
        if isinstance(val, (bool, int)):
            out += varint(field << 3) + varint(int(val))
        else:
            if isinstance(val, str):
                val = val.encode()
            elif isinstance(val, list):
                val = enc(val)
            out += varint(field << 3 | 2) + varint(len(val)) + val
    return bytes(out)

def rd_varint(buf, i):
    n = s = 0
    while True:
        b = buf[i]
        i += 1
        n |= (b & 0x7F) << s
        s += 7
        if not b & 0x80:
            return n, i

def dec(buf):
    out, i = {}, 0
    while i < len(buf):
        key, i = rd_varint(buf, i)
        f, wt = key >> 3, key & 7
        if wt == 0:
            v, i = rd_varint(buf, i)
        elif wt == 2:
            n, i = rd_varint(buf, i)
            v, i = buf[i:i + n], i + n
        elif wt == 1:
            v, i = buf[i:i + 8], i + 8
        elif wt == 5:
            v, i = buf[i:i + 4], i + 4
        else:
            raise ValueError("wire type %d" % wt)
        out.setdefault(f, []).append(v)
    return out

def one(d, f, default=None):
    return d.get(f, [default])[0]

def s(d, f):
    return one(d, f, b"").decode()

def signed(n):
    return n - (1 << 64) if n >= 1 << 63 else n

def pod_config(name, logdir, cgroup_parent):
    # metadata{name,uid,namespace,attempt}, log_directory,
    # linux{cgroup_parent, security_context{namespace_options{network=NODE}}}
    # (host network, so no CNI; no hostname then, as the kubelet does).
    return [(1, [(1, name), (2, name + "-uid"), (3, "default"), (4, 0)]),
            (3, logdir),
            (8, [(1, cgroup_parent), (2, [(1, [(1, 2)])])])]

def main():
    sock, cmd, args = sys.argv[1], sys.argv[2], sys.argv[3:]
    ch = grpc.insecure_channel("unix://" + sock)

    def call(name, req, timeout=60):
        m = ch.unary_unary("/runtime.v1.RuntimeService/" + name,
                           request_serializer=lambda x: x,
                           response_deserializer=lambda x: x)
        return dec(m(enc(req), timeout=timeout))

    if cmd == "version":
        r = call("Version", [(1, "v1")])
        print(json.dumps({"runtime_name": s(r, 2), "runtime_version": s(r, 3)}))
    elif cmd == "runp":
        handler, name, logdir, cgroup_parent = args
        r = call("RunPodSandbox", [(1, pod_config(name, logdir, cgroup_parent)), (2, handler)])
        print(s(r, 1))
    elif cmd == "create":
        pod, podname, cgroup_parent, name, logdir, image, *cargs = args
        cfg = [(1, [(1, name)]), (2, [(1, image)])]
        cfg += [(3, a) for a in cargs[:1]] + [(4, a) for a in cargs[1:]]
        cfg += [(11, name + ".log")]
        # containerd takes the container's cgroup parent from this copy of
        # the pod's config (the kubelet sends the same one as to runp).
        r = call("CreateContainer", [(1, pod), (2, cfg), (3, pod_config(podname, logdir, cgroup_parent))])
        print(s(r, 1))
    elif cmd == "start":
        call("StartContainer", [(1, args[0])])
    elif cmd == "status":
        st = dec(one(call("ContainerStatus", [(1, args[0])]), 1))
        print(json.dumps({"state": one(st, 3, 0), "exit_code": signed(one(st, 7, 0)),
                          "reason": s(st, 10), "message": s(st, 11), "log_path": s(st, 15)}))
    elif cmd == "exec":
        cid, timeout, *c = args
        r = call("ExecSync", [(1, cid)] + [(2, a) for a in c] + [(3, int(timeout))],
                 timeout=int(timeout) + 30)
        print(json.dumps({"stdout": s(r, 1), "stderr": s(r, 2), "exit_code": signed(one(r, 3, 0))}))
    elif cmd == "stop":
        call("StopContainer", [(1, args[0]), (2, int(args[1]))], timeout=int(args[1]) + 30)
    elif cmd == "rm":
        call("RemoveContainer", [(1, args[0])])
    elif cmd == "stopp":
        call("StopPodSandbox", [(1, args[0])])
    elif cmd == "rmp":
        call("RemovePodSandbox", [(1, args[0])])
    else:
        sys.exit("unknown command " + cmd)

try:
    main()
except grpc.RpcError as e:
    sys.stderr.write("%s: %s\n" % (e.code().name, e.details()))
    sys.exit(2)
