//! Which flytekit and Python versions pyflyte-execute runs tasks with, said once.
//!
//! The worker is sent these ranges in `start` and refuses to run outside them (an error
//! document with [`UNSUPPORTED_FLYTEKIT`] or [`UNSUPPORTED_PYTHON`]); `--version` reports
//! against them; the wheel's start-up hook (`bins/pyflyte-execute/wheel`) carries the
//! flytekit range as Python constants, which a test of the binary checks against these.
//!
//! Inside the range the worker adapts to each flytekit by what it finds (the parameters
//! of `setup_execution`, `_dispatch_execute`, the resolver's `load_task`), so a minor
//! release the tests have not seen is tried, and refused only when its internals are not
//! recognised.

use serde::Serialize;

/// A half-open range of versions: `min` included, `below` excluded.
///
/// ```
/// use flyte_python::compat::VersionRange;
///
/// const FLYTEKIT_1_1X: VersionRange = VersionRange { min: &[1, 10], below: &[1, 20] };
/// assert_eq!(FLYTEKIT_1_1X.contains("1.16.31"), Some(true));
/// assert_eq!(FLYTEKIT_1_1X.describe(), "1.10 up to (not including) 1.20");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct VersionRange {
    /// The oldest version supported.
    pub min: &'static [u32],
    /// The first version no longer supported.
    pub below: &'static [u32],
}

impl VersionRange {
    /// Whether `version` (dotted numbers, e.g. `1.12.3`; a pre-release suffix such as
    /// `1.13.0b1` counts as its numbers) falls in the range. `None` when it has no
    /// leading number to compare.
    ///
    /// ```
    /// use flyte_python::compat::SUPPORTED_FLYTEKIT;
    ///
    /// assert_eq!(SUPPORTED_FLYTEKIT.contains("1.13.0b1"), Some(true));
    /// assert_eq!(SUPPORTED_FLYTEKIT.contains("2.0.0"), Some(false));
    /// assert_eq!(SUPPORTED_FLYTEKIT.contains("main"), None);
    /// ```
    pub fn contains(&self, version: &str) -> Option<bool> {
        let numbers = leading_numbers(version)?;
        Some(numbers.as_slice() >= self.min && numbers.as_slice() < self.below)
    }

    /// The range for people, e.g. `1.10.0 up to (not including) 2.0.0`.
    ///
    /// ```
    /// use flyte_python::compat::SUPPORTED_PYTHON;
    ///
    /// let refusal = format!("Python 3.13 is not supported: use {}", SUPPORTED_PYTHON.describe());
    /// assert!(refusal.ends_with("3.9 up to (not including) 3.13"));
    /// ```
    pub fn describe(&self) -> String {
        format!(
            "{} up to (not including) {}",
            dotted(self.min),
            dotted(self.below)
        )
    }
}

/// The flytekit releases tasks run with: every 1.x from 1.10 (the tests cover 1.10 to
/// 1.16). A 2.x is a new SDK with another entrypoint.
///
/// ```
/// assert_eq!(flyte_python::compat::SUPPORTED_FLYTEKIT.contains("1.10.7"), Some(true));
/// ```
pub const SUPPORTED_FLYTEKIT: VersionRange = VersionRange {
    min: &[1, 10, 0],
    below: &[2, 0, 0],
};

/// The interpreters tasks run in: those flytekit 1.10 to 1.16 support.
///
/// ```
/// assert_eq!(flyte_python::compat::SUPPORTED_PYTHON.contains("3.12.8"), Some(true));
/// ```
pub const SUPPORTED_PYTHON: VersionRange = VersionRange {
    min: &[3, 9],
    below: &[3, 13],
};

/// The error code of a run refused because of flytekit's version or internals (the
/// others: [`UNSUPPORTED_PYTHON`], [`FLYTEKIT_IMPORT_FAILED`]).
///
/// ```
/// # let code = "SYSTEM:UnsupportedFlytekit";
/// use flyte_python::compat::{FLYTEKIT_IMPORT_FAILED, UNSUPPORTED_FLYTEKIT, UNSUPPORTED_PYTHON};
///
/// // An error document's code says whether the image, not the task, is at fault.
/// let image_at_fault = [UNSUPPORTED_FLYTEKIT, UNSUPPORTED_PYTHON, FLYTEKIT_IMPORT_FAILED].contains(&code);
/// assert!(image_at_fault);
/// ```
pub const UNSUPPORTED_FLYTEKIT: &str = "SYSTEM:UnsupportedFlytekit";
/// The error code of a run refused because of the interpreter's version.
///
/// ```
/// assert!(flyte_python::compat::UNSUPPORTED_PYTHON.starts_with("SYSTEM:"));
/// ```
pub const UNSUPPORTED_PYTHON: &str = "SYSTEM:UnsupportedPython";
/// The error code of a run whose flytekit is installed but fails to import.
///
/// ```
/// assert!(flyte_python::compat::FLYTEKIT_IMPORT_FAILED.starts_with("SYSTEM:"));
/// ```
pub const FLYTEKIT_IMPORT_FAILED: &str = "SYSTEM:FlytekitImportFailed";

/// The ranges as the worker receives them in `start`.
#[derive(Debug, Clone, Copy, Serialize)]
pub(crate) struct Supported {
    pub(crate) flytekit: VersionRange,
    pub(crate) python: VersionRange,
}

/// The ranges this build supports.
pub(crate) const SUPPORTED: Supported = Supported {
    flytekit: SUPPORTED_FLYTEKIT,
    python: SUPPORTED_PYTHON,
};

/// The numbers a version starts with: `1.13.0b1` gives `[1, 13, 0]`, `3.12.1+` gives
/// `[3, 12, 1]`.
fn leading_numbers(version: &str) -> Option<Vec<u32>> {
    let mut numbers = Vec::new();
    for part in version.trim().split('.') {
        let digits: String = part.chars().take_while(char::is_ascii_digit).collect();
        let Ok(number) = digits.parse() else { break };
        numbers.push(number);
        if digits.len() != part.len() {
            break; // a suffix ends the release numbers
        }
    }
    (!numbers.is_empty()).then_some(numbers)
}

fn dotted(numbers: &[u32]) -> String {
    numbers
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(".")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flytekit_from_1_10_through_every_1_x_is_supported() {
        for version in [
            "1.10.0", "1.10.7", "1.12.3", "1.16.31", "1.17.0", "1.13.0b1",
        ] {
            assert_eq!(
                SUPPORTED_FLYTEKIT.contains(version),
                Some(true),
                "{version}"
            );
        }
    }

    #[test]
    fn flytekit_before_1_10_and_a_new_major_are_not_supported() {
        for version in ["0.9.0", "1.9.9", "1.9", "2.0.0", "2.0.0a1", "10.0"] {
            assert_eq!(
                SUPPORTED_FLYTEKIT.contains(version),
                Some(false),
                "{version}"
            );
        }
    }

    #[test]
    fn python_3_9_to_3_12_is_supported_and_3_8_and_3_13_are_not() {
        for (version, supported) in [
            ("3.9.18", true),
            ("3.10.13", true),
            ("3.12.1", true),
            ("3.8.18", false),
            ("3.13.0", false),
            ("2.7.18", false),
        ] {
            assert_eq!(
                SUPPORTED_PYTHON.contains(version),
                Some(supported),
                "{version}"
            );
        }
    }

    #[test]
    fn a_version_without_numbers_cannot_be_compared() {
        assert_eq!(SUPPORTED_FLYTEKIT.contains("dev"), None);
        assert_eq!(SUPPORTED_FLYTEKIT.contains(""), None);
    }

    #[test]
    fn ranges_read_as_min_up_to_below() {
        assert_eq!(
            SUPPORTED_FLYTEKIT.describe(),
            "1.10.0 up to (not including) 2.0.0"
        );
    }
}
