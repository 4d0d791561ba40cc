//! What the kernel says about a process (Linux `/proc`; `None` elsewhere): CPU time and resident
//! memory, for heartbeats and for benchmarks that watch several processes.

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
}
