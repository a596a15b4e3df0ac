//! What the benchmark ran on, and CPU time spent by named threads of this process (from `/proc`).

use std::fs;

/// A one-line description of this machine: CPU model, logical cores, memory, kernel.
pub fn describe() -> String {
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).trim().to_owned())
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem_gib = fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|l| l.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0 / 1024.0);
    let kernel = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!(
        "{model}, {cores} logical cores, {mem_gib:.0} GiB RAM, Linux {}",
        kernel.trim()
    )
}

/// Seconds of CPU (user + system) spent so far by this process's threads whose name starts with `prefix`.
pub fn thread_cpu_seconds(prefix: &str) -> f64 {
    // Clock ticks per second of /proc's times; 100 on every Linux configuration we run on.
    const TICKS: f64 = 100.0;
    let Ok(tasks) = fs::read_dir("/proc/self/task") else {
        return 0.0;
    };
    let mut ticks = 0u64;
    for task in tasks.flatten() {
        let Ok(stat) = fs::read_to_string(task.path().join("stat")) else {
            continue;
        };
        // The name sits in parentheses and may itself contain spaces; fields follow the last ')'.
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        if !stat[open + 1..close].starts_with(prefix) {
            continue;
        }
        let fields: Vec<&str> = stat[close + 2..].split(' ').collect();
        // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name.
        let utime = fields
            .get(11)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0);
        let stime = fields
            .get(12)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0);
        ticks += utime + stime;
    }
    ticks as f64 / TICKS
}

/// Peak resident memory of this process so far, in MiB.
pub fn peak_rss_mib() -> f64 {
    peak_rss_of("/proc/self/status")
}

/// Peak resident memory of process `pid` so far, in MiB.
pub fn peak_rss_mib_of(pid: u32) -> f64 {
    memory_of(pid).hwm_kib as f64 / 1024.0
}

fn peak_rss_of(status: &str) -> f64 {
    status_number(&fs::read_to_string(status).unwrap_or_default(), "VmHWM:") as f64 / 1024.0
}

/// The memory of one process, from `/proc/<pid>/status` (the kernel's "kB" are KiB).
#[derive(Debug, Clone, Copy, Default)]
pub struct Memory {
    /// Resident now (`VmRSS`).
    pub rss_kib: u64,
    /// Peak resident so far (`VmHWM`).
    pub hwm_kib: u64,
    /// Resident anonymous memory: the heap and stacks (`RssAnon`).
    pub anon_kib: u64,
    /// Resident file pages: the binary and libraries (`RssFile`), shared with other processes mapping them.
    pub file_kib: u64,
    /// Threads.
    pub threads: u64,
}

impl Memory {
    /// `VmRSS` in MiB.
    pub fn rss_mib(&self) -> f64 {
        self.rss_kib as f64 / 1024.0
    }
}

/// The memory of process `pid` now; zeros when it cannot be read (the process is gone).
pub fn memory_of(pid: u32) -> Memory {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    Memory {
        rss_kib: status_number(&status, "VmRSS:"),
        hwm_kib: status_number(&status, "VmHWM:"),
        anon_kib: status_number(&status, "RssAnon:"),
        file_kib: status_number(&status, "RssFile:"),
        threads: status_number(&status, "Threads:"),
    }
}

/// The number after `field` in a `/proc/<pid>/status` text, without its unit.
fn status_number(status: &str, field: &str) -> u64 {
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|l| l.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Seconds of CPU (user + system) spent so far by process `pid` (all its threads, finished ones included).
pub fn process_cpu_seconds(pid: u32) -> f64 {
    const TICKS: f64 = 100.0;
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let Some(close) = stat.rfind(')') else {
        return 0.0;
    };
    let fields: Vec<&str> = stat[close + 2..].split(' ').collect();
    let field = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    (field(11) + field(12)) as f64 / TICKS
}

/// Raises this process's limit of open files to at least `want`, raising the hard limit too when needed
/// (which takes root or CAP_SYS_RESOURCE). Child processes inherit it, so call it before starting the
/// server. Answers the soft limit before and after.
pub fn raise_open_files(want: u64) -> anyhow::Result<(u64, u64)> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes the limit into the struct it is given, which lives for the call.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(std::io::Error::last_os_error().into());
    }
    let before = limit.rlim_cur;
    if before >= want {
        return Ok((before, before));
    }
    let raised = libc::rlimit {
        rlim_cur: want,
        rlim_max: limit.rlim_max.max(want),
    };
    // SAFETY: setrlimit only reads the struct it is given, which lives for the call.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } != 0 {
        let e = std::io::Error::last_os_error();
        anyhow::bail!(
            "need {want} open files, but the limit is {before} (hard {}) and cannot be raised: {e}; \
             raise it before the run (ulimit -Hn; raising the hard limit takes CAP_SYS_RESOURCE) or use fewer \
             connections",
            limit.rlim_max
        );
    }
    Ok((before, want))
}
