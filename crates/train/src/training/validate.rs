//! The validation pass after each epoch: mean loss over the validation slices and the
//! reference-protocol DSC of each validation case (the figure runs are selected on).

use super::loss::Loss;
use anyhow::{Result, anyhow};
use brainseg::eval::reference_dice;
use brainseg::inference::slices_tensor;
use brainseg::manifest::CaseScore;
use brainseg::model::Model;
use brainseg::preprocess::Prepared;
use burn::prelude::*;
use burn::tensor::activation::sigmoid;

/// Mean loss over slices and reference-protocol DSC per case. Validation volumes have masks
/// (`data::load` keeps only such cases).
pub fn validate(
    model: &Model,
    vols: &[Prepared],
    loss: Loss,
    device: &Device,
    batch: usize,
) -> Result<(f64, Vec<CaseScore>)> {
    let (mut loss_sum, mut count) = (0.0, 0usize);
    let mut scores = Vec::new();
    for vol in vols {
        let mask = vol
            .mask
            .as_ref()
            .ok_or_else(|| anyhow!("validation case {} has no masks", vol.case_id))?;
        let n = vol.size();
        let mut probs = Vec::with_capacity(vol.slices() * n * n);
        let mut start = 0;
        while start < vol.slices() {
            let end = (start + batch.max(1)).min(vol.slices());
            let logits = model.forward(slices_tensor(vol, start..end, model.context(), device));
            let m: Vec<f32> = mask[start * n * n..end * n * n]
                .iter()
                .map(|&v| v as f32)
                .collect();
            let target = Tensor::from_data(TensorData::new(m, [end - start, 1, n, n]), device);
            loss_sum += loss.compute(logits.clone(), target).into_scalar::<f32>() as f64
                * (end - start) as f64;
            count += end - start;
            probs.extend(
                sigmoid(logits)
                    .into_data()
                    .try_into_vec::<f32>()
                    .map_err(|e| anyhow!("{e:?}"))?,
            );
            start = end;
        }
        let dsc = reference_dice(&probs, vol)
            .ok_or_else(|| anyhow!("validation case {} has no masks", vol.case_id))?;
        scores.push(CaseScore {
            case: vol.case_id.clone(),
            dsc,
        });
    }
    Ok((loss_sum / count.max(1) as f64, scores))
}
