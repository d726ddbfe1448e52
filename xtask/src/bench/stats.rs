//! Medians and ranges of repeated measurements.

/// The middle and the spread of a set of measurements.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    /// The median (the mean of the two middle values for an even count).
    pub median: f64,
    /// The smallest value.
    pub min: f64,
    /// The largest value.
    pub max: f64,
}

impl Summary {
    /// The summary of `values`, `None` when there are none. NaNs are left out.
    pub fn of(values: &[f64]) -> Option<Summary> {
        let mut sorted: Vec<f64> = values.iter().copied().filter(|v| !v.is_nan()).collect();
        if sorted.is_empty() {
            return None;
        }
        sorted.sort_by(f64::total_cmp);
        let middle = sorted.len() / 2;
        let median = if sorted.len() % 2 == 1 {
            sorted[middle]
        } else {
            (sorted[middle - 1] + sorted[middle]) / 2.0
        };
        Some(Summary {
            median,
            min: sorted[0],
            max: sorted[sorted.len() - 1],
        })
    }
}

/// MiB per second for `bytes` moved in `seconds`.
pub fn mib_per_second(bytes: u64, seconds: f64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0) / seconds
}

/// CPU seconds per GiB moved: `cpu_seconds` of a run less `floor_seconds` (what the
/// same tool spends on a trivial task: its start-up, not the transfer), over the GiB
/// moved. A run below the floor (noise, on a small transfer) counts as 0.
pub fn cpu_seconds_per_gib(cpu_seconds: f64, floor_seconds: f64, bytes: u64) -> f64 {
    let gib = bytes as f64 / (1u64 << 30) as f64;
    (cpu_seconds - floor_seconds).max(0.0) / gib
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_of_an_odd_count_is_the_middle_value() {
        let summary = Summary::of(&[5.0, 1.0, 3.0]).expect("three values");
        assert_eq!(
            summary,
            Summary {
                median: 3.0,
                min: 1.0,
                max: 5.0
            }
        );
    }

    #[test]
    fn the_median_of_an_even_count_is_the_mean_of_the_middle_two() {
        let summary = Summary::of(&[4.0, 1.0, 2.0, 10.0]).expect("four values");
        assert_eq!(summary.median, 3.0);
        assert_eq!((summary.min, summary.max), (1.0, 10.0));
    }

    #[test]
    fn nothing_measured_has_no_summary() {
        assert_eq!(Summary::of(&[]), None);
        assert_eq!(Summary::of(&[f64::NAN]), None);
    }

    #[test]
    fn one_gibibyte_in_four_seconds_is_256_mib_per_second() {
        assert_eq!(mib_per_second(1 << 30, 4.0), 256.0);
    }

    #[test]
    fn cpu_per_gib_is_the_run_less_the_floor_over_the_gibibytes_moved() {
        // 9 s of CPU, 3 s of it start-up, for 2 GiB: 3 s per GiB.
        assert_eq!(cpu_seconds_per_gib(9.0, 3.0, 2 << 30), 3.0);
        // rclone has no floor.
        assert_eq!(cpu_seconds_per_gib(1.5, 0.0, 512 << 20), 3.0);
    }

    #[test]
    fn a_run_below_its_floor_costs_no_cpu_per_gib() {
        assert_eq!(cpu_seconds_per_gib(2.9, 3.0, 12 << 20), 0.0);
    }
}
