//! The process metrics every Prometheus exporter is expected to serve (`process_cpu_seconds_total`,
//! `process_resident_memory_bytes`, `process_virtual_memory_bytes`, `process_open_fds`, `process_max_fds`,
//! `process_start_time_seconds`), read from `/proc/self` at each collection. Elsewhere than Linux there is no
//! `/proc` to read, and these series are left out.

use opentelemetry::metrics::Meter;

/// Registers the process instruments on `meter`. Their names are chosen so that the Prometheus exporter's
/// suffixes (`_seconds`, `_bytes`, `_total`) make the conventional names; OTLP sees the same instruments.
#[cfg(target_os = "linux")]
pub(super) fn observe(meter: &Meter) {
    let Some(proc) = linux::Proc::new() else {
        tracing::warn!("the system does not tell its clock tick or page size: no process metrics");
        return;
    };
    meter
        .f64_observable_counter("process.cpu")
        .with_unit("s")
        .with_description("Total user and system CPU time spent in seconds")
        .with_callback(move |o| {
            if let Some(s) = proc.stat() {
                o.observe(s.cpu_seconds, &[]);
            }
        })
        .build();
    meter
        .u64_observable_gauge("process.resident_memory")
        .with_unit("By")
        .with_description("Resident memory size in bytes")
        .with_callback(move |o| {
            if let Some(s) = proc.stat() {
                o.observe(s.resident_bytes, &[]);
            }
        })
        .build();
    meter
        .u64_observable_gauge("process.virtual_memory")
        .with_unit("By")
        .with_description("Virtual memory size in bytes")
        .with_callback(move |o| {
            if let Some(s) = proc.stat() {
                o.observe(s.virtual_bytes, &[]);
            }
        })
        .build();
    meter
        .u64_observable_gauge("process.open_fds")
        .with_description("Number of open file descriptors")
        .with_callback(|o| {
            if let Some(n) = linux::open_fds() {
                o.observe(n, &[]);
            }
        })
        .build();
    meter
        .u64_observable_gauge("process.max_fds")
        .with_description("Maximum number of open file descriptors")
        .with_callback(|o| {
            if let Some(n) = linux::max_fds() {
                o.observe(n, &[]);
            }
        })
        .build();
    if let Some(start) = proc.start_time_seconds() {
        meter
            .f64_observable_gauge("process.start_time")
            .with_unit("s")
            .with_description("Start time of the process since unix epoch in seconds")
            .with_callback(move |o| o.observe(start, &[]))
            .build();
    }
}

/// Nothing to read without `/proc`.
#[cfg(not(target_os = "linux"))]
pub(super) fn observe(_meter: &Meter) {}

#[cfg(target_os = "linux")]
mod linux {
    /// What `/proc/self/stat` says, in units a reader wants.
    #[derive(Debug, Clone, Copy, PartialEq)]
    pub struct Stat {
        pub cpu_seconds: f64,
        pub resident_bytes: u64,
        pub virtual_bytes: u64,
        /// Clock ticks after boot.
        pub start_ticks: u64,
    }

    /// The system's units for `/proc/self/stat`.
    #[derive(Debug, Clone, Copy)]
    pub struct Proc {
        ticks_per_second: u64,
        page_bytes: u64,
    }

    impl Proc {
        /// The units of this system; `None` when it does not say.
        pub fn new() -> Option<Self> {
            // SAFETY: sysconf reads a system constant; it has no preconditions and touches no memory of ours.
            let (ticks, page) = unsafe {
                (
                    libc::sysconf(libc::_SC_CLK_TCK),
                    libc::sysconf(libc::_SC_PAGESIZE),
                )
            };
            Some(Self {
                ticks_per_second: u64::try_from(ticks).ok().filter(|t| *t > 0)?,
                page_bytes: u64::try_from(page).ok().filter(|p| *p > 0)?,
            })
        }

        /// `/proc/self/stat` now.
        pub fn stat(&self) -> Option<Stat> {
            let text = std::fs::read_to_string("/proc/self/stat").ok()?;
            parse_stat(&text, self.ticks_per_second, self.page_bytes)
        }

        /// When the process started, in seconds since the Unix epoch (boot time plus its start after boot).
        pub fn start_time_seconds(&self) -> Option<f64> {
            let boot = parse_boot_time(&std::fs::read_to_string("/proc/stat").ok()?)?;
            let after_boot = self.stat()?.start_ticks as f64 / self.ticks_per_second as f64;
            Some(boot as f64 + after_boot)
        }
    }

    /// Parses `/proc/<pid>/stat`. The command name (field 2) is in parentheses and may itself hold spaces and
    /// parentheses, so the fields are counted from the last `)`.
    pub fn parse_stat(text: &str, ticks_per_second: u64, page_bytes: u64) -> Option<Stat> {
        let (_, after_name) = text.rsplit_once(')')?;
        // Field 3 (state) is the first after the name: field n is at n - 3.
        let fields: Vec<&str> = after_name.split_whitespace().collect();
        let field = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
        let (utime, stime) = (field(14)?, field(15)?);
        Some(Stat {
            cpu_seconds: (utime + stime) as f64 / ticks_per_second as f64,
            start_ticks: field(22)?,
            virtual_bytes: field(23)?,
            resident_bytes: field(24)?.saturating_mul(page_bytes),
        })
    }

    /// The boot time (`btime`, seconds since the epoch) from `/proc/stat`.
    pub fn parse_boot_time(text: &str) -> Option<u64> {
        text.lines()
            .find_map(|l| l.strip_prefix("btime "))
            .and_then(|t| t.trim().parse().ok())
    }

    /// The soft limit on open files from `/proc/<pid>/limits`; `None` when unlimited.
    pub fn parse_max_fds(text: &str) -> Option<u64> {
        text.lines()
            .find_map(|l| l.strip_prefix("Max open files"))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|soft| soft.parse().ok())
    }

    /// Open file descriptors (the directory being read counts as one, as in every exporter that reads it).
    pub fn open_fds() -> Option<u64> {
        let entries = std::fs::read_dir("/proc/self/fd").ok()?;
        u64::try_from(entries.count()).ok()
    }

    /// The soft limit on open files.
    pub fn max_fds() -> Option<u64> {
        parse_max_fds(&std::fs::read_to_string("/proc/self/limits").ok()?)
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn stat_fields_are_counted_after_the_command_name() {
            // A command name with a space and a parenthesis, as a process may name itself.
            let text = "4242 (pushgate (x) y) S 1 4242 4242 0 -1 4194560 3021 0 0 0 250 130 0 0 20 0 9 0 \
                        81234 1234567168 5120 18446744073709551615 1 1 0 0 0 0 0 4096 17642 0 0 0 17 1 0 0 0 0 0";
            let stat = parse_stat(text, 100, 4096).unwrap();
            assert_eq!(
                stat,
                Stat {
                    cpu_seconds: 3.8,
                    start_ticks: 81234,
                    virtual_bytes: 1_234_567_168,
                    resident_bytes: 5120 * 4096,
                }
            );
            assert_eq!(parse_stat("4242 (cut short) S 1 2", 100, 4096), None);
        }

        #[test]
        fn boot_time_and_the_open_files_limit_are_found_by_name() {
            let stat = "cpu  1 2 3 4\nintr 5\nctxt 6\nbtime 1765000000\nprocesses 7\n";
            assert_eq!(parse_boot_time(stat), Some(1_765_000_000));
            let limits = "Limit                     Soft Limit           Hard Limit           Units     \n\
                          Max processes             63805                63805                processes \n\
                          Max open files            1024                 524288               files     \n";
            assert_eq!(parse_max_fds(limits), Some(1024));
            assert_eq!(
                parse_max_fds(
                    "Max open files            unlimited            unlimited            files\n"
                ),
                None
            );
        }

        #[test]
        fn this_process_reads_as_running() {
            let proc = Proc::new().unwrap();
            let stat = proc.stat().unwrap();
            assert!(stat.resident_bytes > 0 && stat.virtual_bytes >= stat.resident_bytes);
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs_f64();
            let started = proc.start_time_seconds().unwrap();
            assert!(
                started <= now + 1.0 && started > now - 3600.0,
                "{started} vs {now}"
            );
            assert!(open_fds().unwrap() >= 3);
        }
    }
}
