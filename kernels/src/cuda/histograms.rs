//! [`CudaHistogrammer`]: `cuda/stats.cu`'s `weir_histograms`, one GPU
//! thread per value over every window of a [`Histograms`] at once.

use std::sync::Arc;

use cudarc::driver::{CudaFunction, CudaStream, PushKernelArg};

use super::{SOURCES, driver, launch_config, load};
use crate::error::{KernelError, Result};
use crate::histograms::{Histogrammer, Histograms};

/// Bins many windows in one kernel launch on a GPU.
#[derive(Debug)]
pub struct CudaHistogrammer {
    stream: Arc<CudaStream>,
    kernel: CudaFunction,
}

impl CudaHistogrammer {
    /// A histogrammer on GPU `ordinal`, or an error saying why CUDA cannot
    /// be used.
    pub fn new(ordinal: usize) -> Result<Self> {
        let (stream, [kernel]) = load(ordinal, SOURCES[1])?;
        Ok(Self { stream, kernel })
    }
}

impl Histogrammer for CudaHistogrammer {
    fn device(&self) -> &'static str {
        "cuda"
    }

    fn count(&mut self, windows: &Histograms, counts: &mut [u64]) -> Result<()> {
        windows.check_counts("cuda histograms", counts)?;
        counts.fill(0);
        let (values, value_offsets, edges, edge_offsets) = windows.parts();
        if values.is_empty() {
            return Ok(());
        }
        let s = &self.stream;
        let values_d = s.clone_htod(values).map_err(driver("upload"))?;
        let value_offsets_d = s.clone_htod(value_offsets).map_err(driver("upload"))?;
        // A kernel argument may not be an empty buffer; no value reads an
        // edge of a window without edges.
        let edges_d = if edges.is_empty() { s.alloc_zeros::<f32>(1) } else { s.clone_htod(edges) }.map_err(driver("upload"))?;
        let edge_offsets_d = s.clone_htod(edge_offsets).map_err(driver("upload"))?;
        let mut counts_d = s.alloc_zeros::<u32>(counts.len()).map_err(driver("alloc"))?;
        let (n_values, n_windows) = (values.len() as u32, windows.len() as u32);
        let mut launch = s.launch_builder(&self.kernel);
        launch
            .arg(&n_values)
            .arg(&n_windows)
            .arg(&value_offsets_d)
            .arg(&values_d)
            .arg(&edge_offsets_d)
            .arg(&edges_d)
            .arg(&mut counts_d);
        // SAFETY: the arguments match weir_histograms's parameters in order
        // and type; `Histograms` keeps its offsets ascending and within its
        // arrays, and counts_d holds one bin more per window than edges.
        unsafe { launch.launch(launch_config(values.len())) }.map_err(driver("launch"))?;
        let host = s.clone_dtoh(&counts_d).map_err(driver("download"))?;
        s.synchronize().map_err(driver("synchronize"))?;
        if host.len() != counts.len() {
            return Err(KernelError::Shape { kernel: "cuda histograms", what: "downloaded counts", expected: counts.len(), got: host.len() });
        }
        for (c, h) in counts.iter_mut().zip(host) {
            *c = u64::from(h);
        }
        Ok(())
    }
}
