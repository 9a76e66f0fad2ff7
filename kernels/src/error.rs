//! Errors for the kernels.
//!
//! Kernels take raw slices, so the only thing that can go wrong at this level
//! is a shape mismatch. Reporting it as a value (rather than panicking or
//! silently truncating) lets operators turn a bad batch into a diagnostic
//! without tearing down the dataflow.

/// Error returned by a kernel.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum KernelError {
    /// A slice or dimension does not have the size the kernel needs.
    #[error("{kernel}: {what}: expected {expected}, got {got}")]
    Shape {
        /// Name of the kernel that rejected its inputs.
        kernel: &'static str,
        /// The size the kernel needed.
        expected: usize,
        /// The size it was given.
        got: usize,
        /// Which argument was wrong.
        what: &'static str,
    },
    /// A row names a key the bank does not hold.
    #[error("{kernel}: key index {key} is out of range (the bank holds {n_keys} keys)")]
    Key {
        /// Name of the kernel that rejected its inputs.
        kernel: &'static str,
        /// The key index.
        key: usize,
        /// Keys in the bank.
        n_keys: usize,
    },
    /// A multiclass label that is not a class index.
    #[error("{kernel}: label {label} is not a class index (0 to {classes} - 1)")]
    Label {
        /// Name of the kernel that rejected its inputs.
        kernel: &'static str,
        /// The label.
        label: f32,
        /// Classes of the model.
        classes: usize,
    },
    /// `device = 'cuda'` was demanded and no usable GPU is present.
    #[error("no CUDA device is usable: {reason}")]
    NoCuda {
        /// Why (no driver library, no device, a failed context).
        reason: String,
    },
    /// The CUDA driver or NVRTC reported an error.
    #[error("CUDA {what}: {detail}")]
    Cuda {
        /// What was being done.
        what: &'static str,
        /// The driver's or compiler's message.
        detail: String,
    },
}

/// Result type of the kernels.
pub type Result<T, E = KernelError> = std::result::Result<T, E>;

/// Returns a [`KernelError::Shape`] unless `got == expected`.
pub(crate) fn check_len(
    kernel: &'static str,
    what: &'static str,
    expected: usize,
    got: usize,
) -> Result<()> {
    if got == expected {
        Ok(())
    } else {
        Err(KernelError::Shape { kernel, expected, got, what })
    }
}

/// Number of rows in a row-major block of `n_features` columns, checking
/// that `n_features > 0` and that the block holds only whole rows.
pub(crate) fn row_count(kernel: &'static str, rows: &[f32], n_features: usize) -> Result<usize> {
    if n_features == 0 {
        return Err(KernelError::Shape { kernel, expected: 1, got: 0, what: "n_features (minimum)" });
    }
    let whole = rows.len() - rows.len() % n_features;
    check_len(kernel, "rows length (whole rows of n_features)", whole, rows.len())?;
    Ok(rows.len() / n_features)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape_errors_say_what_went_wrong() {
        let err = check_len("dot", "b length", 3, 2).unwrap_err();
        assert_eq!(err.to_string(), "dot: b length: expected 3, got 2");
        assert!(row_count("k", &[0.0; 5], 2).is_err());
        assert!(row_count("k", &[0.0; 5], 0).is_err());
        assert!(row_count("k", &[], 0).is_err());
        assert_eq!(row_count("k", &[0.0; 6], 3), Ok(2));
        assert_eq!(row_count("k", &[], 3), Ok(0));
    }
}
