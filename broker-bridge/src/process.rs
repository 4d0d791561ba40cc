//! What the kernel says about a process (Linux `/proc`; `None` elsewhere): CPU time and resident
//! memory, for heartbeats and for benchmarks that watch several processes; and about the host
//! ([`Host`]): CPU time, memory and load averages, for the statistics report.

use std::time::Duration;

/// Clock ticks per second of `/proc/<pid>/stat`: 100 on every Linux platform in use.
const TICKS_PER_SECOND: u64 = 100;
const PAGE_BYTES: u64 = 4096;

/// A process to ask about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Process {
    Current,
    Pid(u32),
}

impl Process {
    fn path(self, file: &str) -> String {
        match self {
            Process::Current => format!("/proc/self/{file}"),
            Process::Pid(pid) => format!("/proc/{pid}/{file}"),
        }
    }

    /// User plus system CPU time so far.
    pub fn cpu_time(self) -> Option<Duration> {
        let stat = std::fs::read_to_string(self.path("stat")).ok()?;
        // Fields after the command name (which may contain spaces) start at the state, field 3.
        let rest = stat.rsplit_once(')')?.1;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
        Some(Duration::from_millis(ticks * 1000 / TICKS_PER_SECOND))
    }

    /// Resident memory.
    pub fn rss_bytes(self) -> Option<u64> {
        let statm = std::fs::read_to_string(self.path("statm")).ok()?;
        let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
        Some(pages * PAGE_BYTES)
    }
}

/// The host the process runs on (Linux `/proc`; `None` elsewhere).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Host;

/// The host's CPU time so far, all cores together, in clock ticks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HostCpu {
    /// Ticks spent on anything but idling and waiting for I/O.
    pub busy: u64,
    pub total: u64,
}

impl HostCpu {
    /// The busy share of the time from `before` to `self`, in percent of all cores.
    pub fn pct_since(self, before: HostCpu) -> f64 {
        let total = self.total.saturating_sub(before.total);
        if total == 0 {
            return 0.0;
        }
        let busy = self.busy.saturating_sub(before.busy).min(total);
        100.0 * busy as f64 / total as f64
    }
}

impl Host {
    /// CPU time so far (the `cpu` line of `/proc/stat`).
    pub fn cpu() -> Option<HostCpu> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        let line = stat.lines().find(|l| l.starts_with("cpu "))?;
        // user nice system idle iowait irq softirq steal (guest time is within user already)
        let ticks: Vec<u64> = line
            .split_whitespace()
            .skip(1)
            .take(8)
            .map(|t| t.parse().ok())
            .collect::<Option<_>>()?;
        let total: u64 = ticks.iter().sum();
        let idle = ticks.get(3)? + ticks.get(4).copied().unwrap_or(0);
        Some(HostCpu {
            busy: total.saturating_sub(idle),
            total,
        })
    }

    /// Memory in use (total less available) and total, in bytes (`/proc/meminfo`).
    pub fn memory() -> Option<(u64, u64)> {
        let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
        let field = |name: &str| -> Option<u64> {
            let line = meminfo.lines().find(|l| l.starts_with(name))?;
            let kib: u64 = line[name.len()..]
                .trim_start_matches(':')
                .split_whitespace()
                .next()?
                .parse()
                .ok()?;
            Some(kib * 1024)
        };
        let total = field("MemTotal")?;
        let available = field("MemAvailable")?;
        Some((total.saturating_sub(available), total))
    }

    /// Load averages over 1, 5 and 15 minutes (`/proc/loadavg`).
    pub fn load_average() -> Option<[f64; 3]> {
        let loadavg = std::fs::read_to_string("/proc/loadavg").ok()?;
        let mut fields = loadavg.split_whitespace().map(|f| f.parse::<f64>().ok());
        Some([fields.next()??, fields.next()??, fields.next()??])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(target_os = "linux")]
    #[test]
    fn reads_this_process() {
        let by_pid = Process::Pid(std::process::id());
        assert!(Process::Current.rss_bytes().unwrap() > 0);
        assert!(by_pid.rss_bytes().unwrap() > 0);
        assert!(by_pid.cpu_time().is_some());
        assert_eq!(Process::Pid(u32::MAX).cpu_time(), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn reads_the_host() {
        let cpu = Host::cpu().unwrap();
        assert!(cpu.total >= cpu.busy && cpu.total > 0);
        let (used, total) = Host::memory().unwrap();
        assert!(used > 0 && used <= total);
        assert!(Host::load_average().unwrap().iter().all(|l| *l >= 0.0));
        let later = HostCpu {
            busy: cpu.busy + 30,
            total: cpu.total + 120,
        };
        assert_eq!(later.pct_since(cpu), 25.0);
        assert_eq!(cpu.pct_since(cpu), 0.0);
    }
}
