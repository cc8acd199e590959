//! `process_*` metrics read from `/proc/self` and the cgroup memory and CPU limits, at scrape time.

use inferwatch_monitoring::metrics::{self as cat, MetricDef};
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::gauge::ConstGauge;

/// prometheus-client ends every help text with a period itself.
fn help(def: MetricDef) -> &'static str {
    def.help.strip_suffix('.').unwrap_or(def.help)
}

/// `process_*` metrics read from `/proc/self` at scrape time.
#[derive(Debug)]
pub(super) struct ProcessCollector {
    start_time: f64,
    ticks: f64,
    page_size: f64,
}

impl ProcessCollector {
    pub(super) fn new() -> Self {
        // SAFETY: sysconf has no preconditions.
        let (ticks, page) = unsafe { (libc::sysconf(libc::_SC_CLK_TCK), libc::sysconf(libc::_SC_PAGESIZE)) };
        let start_time =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0);
        Self { start_time, ticks: ticks.max(1) as f64, page_size: page.max(1) as f64 }
    }
}

/// Fields of `/proc/self/stat` after the command name: (utime, stime, threads, vsize, rss pages).
fn read_stat() -> Option<(f64, f64, f64, f64, f64)> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let num = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok());
    Some((num(11)?, num(12)?, num(17)?, num(20)?, num(21)?))
}

fn max_fds() -> Option<f64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

impl prometheus_client::collector::Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        fn gauge(encoder: &mut DescriptorEncoder, def: MetricDef, v: f64) -> Result<(), std::fmt::Error> {
            let g = ConstGauge::new(v);
            g.encode(encoder.encode_descriptor(def.name, help(def), None, g.metric_type())?)
        }
        if let Some((utime, stime, threads, vsize, rss)) = read_stat() {
            gauge(&mut encoder, cat::PROCESS_RSS, rss * self.page_size)?;
            gauge(&mut encoder, cat::PROCESS_VSZ, vsize)?;
            gauge(&mut encoder, cat::PROCESS_THREADS, threads)?;
            let cpu = prometheus_client::metrics::counter::ConstCounter::new((utime + stime) / self.ticks);
            cpu.encode(encoder.encode_descriptor(
                cat::PROCESS_CPU.base_name(),
                cat::PROCESS_CPU.help,
                None,
                cpu.metric_type(),
            )?)?;
        }
        if let Ok(dir) = std::fs::read_dir("/proc/self/fd") {
            gauge(&mut encoder, cat::PROCESS_OPEN_FDS, dir.count() as f64)?;
        }
        if let Some(m) = max_fds() {
            gauge(&mut encoder, cat::PROCESS_MAX_FDS, m)?;
        }
        if let Some(limit) = memory_limit() {
            gauge(&mut encoder, cat::MEMORY_LIMIT, limit)?;
        }
        if let Some(cores) = super::capacity::cpu_limit() {
            gauge(&mut encoder, cat::CPU_LIMIT, cores)?;
        }
        gauge(&mut encoder, cat::PROCESS_START_TIME, self.start_time)
    }
}

/// The cgroup memory limit (v2 `memory.max`, else v1 `memory.limit_in_bytes`); `None` when
/// unlimited or not in a cgroup.
fn memory_limit() -> Option<f64> {
    ["/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"].iter().find_map(|p| {
        let v: f64 = std::fs::read_to_string(p).ok()?.trim().parse().ok()?;
        // cgroup v1 reports "unlimited" as a huge page-aligned number.
        (v < 1e18).then_some(v)
    })
}
