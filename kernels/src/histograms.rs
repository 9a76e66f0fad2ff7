//! Many histograms in one call: the binning behind PSI and Jensen-Shannon
//! for every (key, feature) window a monitor closes at once.
//!
//! A feature-drift monitor partitioned by key closes thousands of small
//! windows when the watermark passes their end. Binning each alone is a
//! loop on the CPU; binning them together is one launch on a GPU. So the
//! windows are gathered into [`Histograms`] (values and cut points
//! concatenated, with offsets, the layout `cuda/stats.cu` reads), and a
//! [`Histogrammer`] counts them all: [`CpuHistogrammer`] everywhere,
//! `cuda::CudaHistogrammer` where a GPU is usable. [`open_histogrammer`]
//! chooses as [`open_bank`](crate::open_bank) does for models, and both
//! give the same counts as [`stats::histogram`](crate::stats::histogram)
//! applied to each window.

use std::fmt;
use std::ops::Range;

use crate::device::DeviceRequest;
use crate::error::{KernelError, Result};
use crate::stats::histogram;

/// Windows to bin, each with its own ascending cut points.
///
/// ```
/// use weir_kernels::histograms::{CpuHistogrammer, Histogrammer, Histograms};
/// # fn main() -> weir_kernels::Result<()> {
/// let mut windows = Histograms::default();
/// windows.push(&[0.5, 1.5, 2.5, 2.7], &[1.0, 2.0])?; // three bins
/// windows.push(&[10.0, f32::NAN], &[5.0])?; // two bins; NaN is not counted
/// let mut counts = vec![0; windows.n_bins()];
/// CpuHistogrammer.count(&windows, &mut counts)?;
/// assert_eq!(&counts[windows.bins(0)], [1, 1, 2]);
/// assert_eq!(&counts[windows.bins(1)], [0, 1]);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Histograms {
    values: Vec<f32>,
    /// `n_windows + 1` entries once a window is pushed (empty before).
    value_offsets: Vec<u32>,
    edges: Vec<f32>,
    edge_offsets: Vec<u32>,
}

impl Histograms {
    /// Adds a window: its values, and the cut points of its bins
    /// (ascending, no NaN; `edges.len() + 1` bins). Returns its index.
    pub fn push(&mut self, values: &[f32], edges: &[f32]) -> Result<usize> {
        if let Some(i) = edges.iter().position(|e| e.is_nan()) {
            return Err(KernelError::Shape { kernel: "histograms", what: "NaN-free edges (first NaN position)", expected: 0, got: i });
        }
        if let Some(i) = edges.windows(2).position(|w| w[0] > w[1]) {
            return Err(KernelError::Shape { kernel: "histograms", what: "ascending edges (first descending position)", expected: 0, got: i + 1 });
        }
        let total = self.values.len() + values.len();
        let edge_total = self.edges.len() + edges.len() + self.len() + 1;
        if total > u32::MAX as usize || edge_total > u32::MAX as usize {
            return Err(KernelError::Shape { kernel: "histograms", what: "values in one call (maximum)", expected: u32::MAX as usize, got: total.max(edge_total) });
        }
        if self.value_offsets.is_empty() {
            self.value_offsets.push(0);
            self.edge_offsets.push(0);
        }
        self.values.extend_from_slice(values);
        self.edges.extend_from_slice(edges);
        self.value_offsets.push(self.values.len() as u32);
        self.edge_offsets.push(self.edges.len() as u32);
        Ok(self.len() - 1)
    }

    /// Windows pushed so far.
    pub fn len(&self) -> usize {
        self.value_offsets.len().saturating_sub(1)
    }

    /// Whether no window was pushed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bins over all windows: the length of the counts.
    pub fn n_bins(&self) -> usize {
        self.edges.len() + self.len()
    }

    /// Where window `g`'s counts are in the counts of all windows.
    pub fn bins(&self, g: usize) -> Range<usize> {
        let (a, b) = (self.edge_offsets[g] as usize, self.edge_offsets[g + 1] as usize);
        a + g..b + g + 1
    }

    /// Window `g`'s values and edges.
    pub fn window(&self, g: usize) -> (&[f32], &[f32]) {
        let v = self.value_offsets[g] as usize..self.value_offsets[g + 1] as usize;
        let e = self.edge_offsets[g] as usize..self.edge_offsets[g + 1] as usize;
        (&self.values[v], &self.edges[e])
    }

    /// Forgets every window, keeping the memory.
    pub fn clear(&mut self) {
        self.values.clear();
        self.value_offsets.clear();
        self.edges.clear();
        self.edge_offsets.clear();
    }

    /// The concatenated arrays, for a device backend: values, value
    /// offsets, edges, edge offsets.
    pub(crate) fn parts(&self) -> (&[f32], &[u32], &[f32], &[u32]) {
        (&self.values, &self.value_offsets, &self.edges, &self.edge_offsets)
    }

    pub(crate) fn check_counts(&self, kernel: &'static str, counts: &[u64]) -> Result<()> {
        crate::error::check_len(kernel, "counts length (= edges + windows)", self.n_bins(), counts.len())
    }
}

/// Something that bins many windows at once.
pub trait Histogrammer: Send + fmt::Debug {
    /// `"cpu"` or `"cuda"`.
    fn device(&self) -> &'static str;

    /// Sets `counts` (`windows.n_bins()` long) to every window's histogram.
    fn count(&mut self, windows: &Histograms, counts: &mut [u64]) -> Result<()>;
}

/// Bins on the CPU, one window after another.
#[derive(Debug, Clone, Copy, Default)]
pub struct CpuHistogrammer;

impl Histogrammer for CpuHistogrammer {
    fn device(&self) -> &'static str {
        "cpu"
    }

    fn count(&mut self, windows: &Histograms, counts: &mut [u64]) -> Result<()> {
        windows.check_counts("cpu histograms", counts)?;
        counts.fill(0);
        for g in 0..windows.len() {
            let (values, edges) = windows.window(g);
            histogram(values, edges, &mut counts[windows.bins(g)])?;
        }
        Ok(())
    }
}

/// A histogrammer opened on a device, with a sentence saying which and why.
#[derive(Debug)]
pub struct OpenedHistogrammer {
    /// The histogrammer.
    pub histogrammer: Box<dyn Histogrammer>,
    /// For example "cpu (device = 'cpu')" or "cuda (GPU 0)".
    pub choice: String,
}

/// Opens a histogrammer as `request` asks: `auto` takes a GPU when one is
/// usable and the CPU otherwise (never an error); `cuda` without a usable
/// GPU is [`KernelError::NoCuda`].
///
/// ```
/// use weir_kernels::DeviceRequest;
/// use weir_kernels::histograms::open_histogrammer;
/// let opened = open_histogrammer(DeviceRequest::Auto).unwrap(); // never fails for want of a GPU
/// assert!(["cpu", "cuda"].contains(&opened.histogrammer.device()));
/// assert_eq!(open_histogrammer(DeviceRequest::Cpu).unwrap().histogrammer.device(), "cpu");
/// ```
pub fn open_histogrammer(request: DeviceRequest) -> Result<OpenedHistogrammer> {
    let cpu = |why: String| Ok(OpenedHistogrammer { histogrammer: Box::new(CpuHistogrammer), choice: format!("cpu ({why})") });
    if request == DeviceRequest::Cpu {
        return cpu("device = 'cpu'".into());
    }
    if let Some(reason) = crate::device::cuda_unavailable() {
        return match request {
            DeviceRequest::Cuda => Err(KernelError::NoCuda { reason }),
            _ => cpu(reason),
        };
    }
    open_cuda(request, cpu)
}

#[cfg(feature = "cuda")]
fn open_cuda(request: DeviceRequest, cpu: impl Fn(String) -> Result<OpenedHistogrammer>) -> Result<OpenedHistogrammer> {
    match crate::cuda::CudaHistogrammer::new(0) {
        Ok(h) => Ok(OpenedHistogrammer { histogrammer: Box::new(h), choice: "cuda (GPU 0)".into() }),
        Err(e) if request == DeviceRequest::Auto => cpu(format!("CUDA failed: {e}")),
        Err(e) => Err(e),
    }
}

#[cfg(not(feature = "cuda"))]
fn open_cuda(_: DeviceRequest, _: impl Fn(String) -> Result<OpenedHistogrammer>) -> Result<OpenedHistogrammer> {
    Err(KernelError::NoCuda { reason: "Weir was built without the 'cuda' feature".into() })
}
