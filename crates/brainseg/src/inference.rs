//! Running a model over a preprocessed volume.
//!
//! Async because the browser can only read GPU results asynchronously; native callers block on
//! it (`pollster::block_on`), which costs nothing on the CPU backend.

use crate::model::Model;
use crate::preprocess::{CHANNELS, Prepared};
use burn::prelude::*;
use burn::tensor::activation::sigmoid;

/// Options of one inference pass.
#[derive(Debug, Clone, Copy)]
pub struct InferOptions {
    /// Slices per forward pass.
    pub batch: usize,
    /// Flip test-time augmentation: average the prediction with that of the mirrored slice.
    pub flip_tta: bool,
}

impl Default for InferOptions {
    fn default() -> Self {
        Self { batch: 4, flip_tta: false }
    }
}

/// Builds the `[B, 3, N, N]` input of slices `range` of a prepared volume.
pub fn slices_tensor(prep: &Prepared, range: std::ops::Range<usize>, device: &Device) -> Tensor<4> {
    let n = prep.size();
    let len = CHANNELS * n * n;
    let data = prep.image[range.start * len..range.end * len].to_vec();
    Tensor::from_data(TensorData::new(data, [range.len(), CHANNELS, n, n]), device)
}

/// Probabilities `[B, 1, N, N]` for an input batch.
pub fn probabilities(model: &Model, input: Tensor<4>, flip_tta: bool) -> Tensor<4> {
    let p = sigmoid(model.forward(input.clone()));
    if !flip_tta {
        return p;
    }
    let flipped = sigmoid(model.forward(input.flip([3]))).flip([3]);
    (p + flipped) / 2.0
}

/// Per-voxel lesion probabilities of a prepared volume (kept slices × N × N). `progress` gets
/// the number of slices done after each batch and is awaited, so a browser caller can yield to
/// its event loop there; resolving to false cancels (then `Ok(None)`).
pub async fn predict_volume<F: std::future::Future<Output = bool>>(
    model: &Model,
    prep: &Prepared,
    device: &Device,
    opts: InferOptions,
    mut progress: impl FnMut(usize) -> F,
) -> Result<Option<Vec<f32>>, String> {
    let total = prep.slices();
    let mut out = Vec::with_capacity(total * prep.size() * prep.size());
    let mut start = 0;
    while start < total {
        let end = (start + opts.batch.max(1)).min(total);
        let p = probabilities(model, slices_tensor(prep, start..end, device), opts.flip_tta);
        let data = p.into_data_async().await.map_err(|e| format!("reading the prediction failed: {e:?}"))?;
        out.extend(data.try_into_vec::<f32>().map_err(|e| format!("prediction has an unexpected type: {e:?}"))?);
        start = end;
        if !progress(end).await {
            return Ok(None);
        }
    }
    Ok(Some(out))
}
