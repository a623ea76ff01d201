//! The memory a Linux control group still lets this process use: a container's or a batch
//! system's limit (Docker `--memory`, Kubernetes `resources.limits.memory`, Slurm, systemd's
//! `MemoryMax`), which `/proc/meminfo`'s `MemAvailable` does not see — a job sized by
//! `MemAvailable` alone inside a 2 GiB container is killed by the kernel instead of refused.
//!
//! A group's room is its limit less what it uses that cannot be reclaimed: limit − (usage −
//! inactive file pages), as `docker stats` and the kubelet count it; with nested groups, the
//! least over the group and its ancestors. cgroup v2 (`memory.max`, `memory.current`,
//! `memory.stat`'s `inactive_file`) and v1 (`memory.limit_in_bytes`, `memory.usage_in_bytes`,
//! `memory.stat`'s `total_inactive_file`).

use std::path::{Path, PathBuf};

/// Limits at or above this are "no limit" (cgroup v1 writes 2⁶³ rounded down to a page).
const NO_LIMIT: u64 = 1 << 62;

/// A memory control group's files, and which version names them.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct MemoryGroup {
    pub dir: PathBuf,
    pub v1: bool,
}

/// The memory groups of this process from `/proc/self/cgroup`'s text under the hierarchies
/// mounted at `root` (normally `/sys/fs/cgroup`): the v1 `memory` controller's group when it
/// has one, else the v2 group; innermost first, each ancestor after it up to the hierarchy's
/// root.
///
/// ```text
/// 4:memory:/batch/job7   → root/memory/batch/job7, root/memory/batch, root/memory
/// 0::/user.slice/app     → root/user.slice/app, root/user.slice, root
/// ```
pub(crate) fn memory_groups(proc_self_cgroup: &str, root: &Path) -> Vec<MemoryGroup> {
    let mut v1 = None;
    let mut v2 = None;
    for line in proc_self_cgroup.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(_), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        if controllers.split(',').any(|c| c == "memory") {
            v1 = Some(path);
        } else if controllers.is_empty() {
            v2 = Some(path);
        }
    }
    let (base, path, is_v1) = match (v1, v2) {
        (Some(path), _) => (root.join("memory"), path, true),
        (None, Some(path)) => (root.to_path_buf(), path, false),
        (None, None) => return Vec::new(),
    };
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    (0..=parts.len())
        .rev()
        .map(|n| MemoryGroup {
            dir: parts[..n].iter().fold(base.clone(), |dir, p| dir.join(p)),
            v1: is_v1,
        })
        .collect()
}

/// A group's room from the text of its limit, usage and `memory.stat` files: limit − (usage −
/// inactive file pages), 0 when it is over; `None` when it sets no limit or a file does not
/// parse.
///
/// ```text
/// limit "2147483648", usage "1610612736", stat "inactive_file 536870912" → 1 GiB
/// ```
pub(crate) fn group_room(limit: &str, usage: &str, stat: &str, v1: bool) -> Option<u64> {
    let limit = limit.trim();
    if limit == "max" {
        return None;
    }
    let limit: u64 = limit.parse().ok()?;
    if limit >= NO_LIMIT {
        return None;
    }
    let usage: u64 = usage.trim().parse().ok()?;
    let key = if v1 {
        "total_inactive_file"
    } else {
        "inactive_file"
    };
    let inactive = stat
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(' ')?;
            (name == key).then(|| value.trim().parse::<u64>().ok())?
        })
        .unwrap_or(0);
    Some(limit.saturating_sub(usage.saturating_sub(inactive)))
}

/// The least room of `groups` whose files can be read (`None`: no group sets a limit).
pub(crate) fn least_room(groups: &[MemoryGroup]) -> Option<u64> {
    groups
        .iter()
        .filter_map(|g| {
            let read = |name: &str| std::fs::read_to_string(g.dir.join(name)).ok();
            let (limit, usage) = if g.v1 {
                (
                    read("memory.limit_in_bytes")?,
                    read("memory.usage_in_bytes")?,
                )
            } else {
                (read("memory.max")?, read("memory.current")?)
            };
            group_room(
                &limit,
                &usage,
                &read("memory.stat").unwrap_or_default(),
                g.v1,
            )
        })
        .min()
}

/// The memory this process's control groups still let it use (`None`: no limit, or not Linux).
pub(crate) fn cgroup_room() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    least_room(&memory_groups(&text, Path::new("/sys/fs/cgroup")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_memory_group_and_its_ancestors_come_from_proc_self_cgroup() {
        let root = Path::new("/sys/fs/cgroup");
        // cgroup v1 beside a v2 hierarchy (systemd's hybrid layout): the memory controller's
        let hybrid = "9:name=systemd:/\n4:memory:/process_api/61037af4\n1:cpu:/\n0::/\n";
        let dirs: Vec<PathBuf> = memory_groups(hybrid, root)
            .into_iter()
            .inspect(|g| assert!(g.v1))
            .map(|g| g.dir)
            .collect();
        assert_eq!(
            dirs,
            [
                "/sys/fs/cgroup/memory/process_api/61037af4",
                "/sys/fs/cgroup/memory/process_api",
                "/sys/fs/cgroup/memory",
            ]
            .map(PathBuf::from)
        );
        // v1 with controllers mounted together
        let joint = "5:cpuacct,memory,cpu:/slurm/uid_1000/job_42\n";
        let groups = memory_groups(joint, root);
        assert_eq!(
            groups[0].dir,
            Path::new("/sys/fs/cgroup/memory/slurm/uid_1000/job_42")
        );
        assert_eq!(groups.len(), 4);
        // cgroup v2 only
        let unified = "0::/user.slice/user-1000.slice/session-3.scope\n";
        let groups = memory_groups(unified, root);
        assert!(groups.iter().all(|g| !g.v1));
        assert_eq!(
            groups[0].dir,
            Path::new("/sys/fs/cgroup/user.slice/user-1000.slice/session-3.scope")
        );
        assert_eq!(groups.last().unwrap().dir, root);
        // inside a container's cgroup namespace: the root only
        assert_eq!(memory_groups("0::/\n", root).len(), 1);
        assert!(memory_groups("", root).is_empty());
    }

    #[test]
    fn a_group_has_its_limit_less_what_it_cannot_reclaim() {
        let gib = 1u64 << 30;
        let stat_v2 =
            "anon 1073741824\nfile 805306368\nactive_file 268435456\ninactive_file 536870912\n";
        // 2 GiB limit, 1.5 GiB used of which 0.5 GiB inactive file pages: 1 GiB of room
        assert_eq!(
            group_room("2147483648\n", "1610612736\n", stat_v2, false),
            Some(gib)
        );
        // over the limit in what it cannot reclaim: no room, not a wrap-around
        assert_eq!(group_room("1073741824", "2147483648", "", false), Some(0));
        // v1 counts the hierarchy's inactive file pages
        let stat_v1 = "cache 10\ninactive_file 999999999999\ntotal_inactive_file 536870912\n";
        assert_eq!(
            group_room("2147483648", "1610612736", stat_v1, true),
            Some(gib)
        );
        // no limit: v2's "max", v1's 2⁶³ rounded to a page
        assert_eq!(group_room("max\n", "1610612736", stat_v2, false), None);
        assert_eq!(
            group_room("9223372036854771712", "2810474496", stat_v1, true),
            None
        );
        assert_eq!(group_room("garbage", "1", "", false), None);
    }
}
