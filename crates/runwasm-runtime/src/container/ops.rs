//! The cgroup-based operations: `ps`, `pause`, `resume`, `update`, and the
//! stats `events` reports (in runc's JSON shape).

use oci_spec::runtime::LinuxResources;
use serde_json::{json, Value};

use crate::cgroups::Cgroup;
use crate::container::Container;
use crate::state::{StateStore, Status};
use crate::{Error, Result};

fn cgroup_of(c: &Container) -> Result<Cgroup> {
    let place = c
        .state
        .cgroup
        .as_ref()
        .ok_or_else(|| Error::other(format!("container {:?} has no cgroup", c.state.id)))?;
    place.manager(&c.state.id)
}

/// Host pids of every process in the container's cgroup.
pub fn pids(store: &StateStore, id: &str) -> Result<Vec<i32>> {
    let c = Container::load(store, id)?;
    if c.status() == Status::Stopped {
        return Err(Error::NotRunning(id.to_string()));
    }
    let mut pids = cgroup_of(&c)?.pids()?;
    pids.sort_unstable();
    Ok(pids)
}

/// Freezes every process of the container.
pub fn pause(store: &StateStore, id: &str) -> Result<()> {
    let mut c = Container::load(store, id)?;
    match c.status() {
        Status::Running | Status::Created => {}
        Status::Paused => return Err(Error::other(format!("container {id:?} is already paused"))),
        _ => return Err(Error::NotRunning(id.to_string())),
    }
    cgroup_of(&c)?.freeze()?;
    c.state.status = Status::Paused;
    c.dir.save(&c.state)
}

/// Thaws a paused container.
pub fn resume(store: &StateStore, id: &str) -> Result<()> {
    let mut c = Container::load(store, id)?;
    if c.status() != Status::Paused {
        return Err(Error::other(format!("container {id:?} is not paused")));
    }
    cgroup_of(&c)?.thaw()?;
    c.state.status = Status::Running;
    c.dir.save(&c.state)
}

/// Applies new limits to a created, running or paused container.
pub fn update(store: &StateStore, id: &str, resources: &LinuxResources) -> Result<()> {
    let c = Container::load(store, id)?;
    if c.status() == Status::Stopped {
        return Err(Error::NotRunning(id.to_string()));
    }
    cgroup_of(&c)?.apply(resources)
}

/// One `events` stats object: `{"type":"stats","id":ID,"data":{…}}`.
pub fn stats(store: &StateStore, id: &str) -> Result<Value> {
    let c = Container::load(store, id)?;
    if c.status() == Status::Stopped {
        return Err(Error::NotRunning(id.to_string()));
    }
    let s = cgroup_of(&c)?.stats()?;
    let mem = |m: &libcgroups::stats::MemoryData| json!({ "limit": m.limit, "usage": m.usage, "max": m.max_usage, "failcnt": m.fail_count });
    let blkio = |v: &[libcgroups::stats::BlkioDeviceStat]| -> Value {
        v.iter()
            .map(|d| json!({ "major": d.major, "minor": d.minor, "op": d.op_type.clone().unwrap_or_default(), "value": d.value }))
            .collect()
    };
    let hugetlb: serde_json::Map<String, Value> = s
        .hugetlb
        .iter()
        .map(|(k, h)| {
            (
                k.clone(),
                json!({ "usage": h.usage, "max": h.max_usage, "failcnt": h.fail_count }),
            )
        })
        .collect();
    let data = json!({
        "cpu": {
            "usage": {
                "total": s.cpu.usage.usage_total,
                "percpu": s.cpu.usage.per_core_usage_total,
                "kernel": s.cpu.usage.usage_kernel,
                "user": s.cpu.usage.usage_user,
            },
            "throttling": {
                "periods": s.cpu.throttling.periods,
                "throttledPeriods": s.cpu.throttling.throttled_periods,
                "throttledTime": s.cpu.throttling.throttled_time,
            },
        },
        "memory": {
            "cache": s.memory.cache,
            "usage": mem(&s.memory.memory),
            "swap": mem(&s.memory.memswap),
            "kernel": mem(&s.memory.kernel),
            "kernelTCP": mem(&s.memory.kernel_tcp),
            "raw": s.memory.stats,
        },
        "pids": { "current": s.pids.current, "limit": s.pids.limit },
        "blkio": {
            "ioServiceBytesRecursive": blkio(&s.blkio.service_bytes),
            "ioServicedRecursive": blkio(&s.blkio.serviced),
            "ioQueueRecursive": blkio(&s.blkio.queued),
            "ioServiceTimeRecursive": blkio(&s.blkio.service_time),
            "ioWaitTimeRecursive": blkio(&s.blkio.wait_time),
            "ioMergedRecursive": blkio(&s.blkio.merged),
            "ioTimeRecursive": blkio(&s.blkio.time),
            "sectorsRecursive": blkio(&s.blkio.sectors),
        },
        "hugetlb": hugetlb,
    });
    Ok(json!({ "type": "stats", "id": id, "data": data }))
}
