//! A module mapper shared by the native model tests and the web crate's wasm tests (which
//! include this file by path: one definition of the perturbation both sides compare under).

use burn::module::{ModuleMapper, Param};
use burn::prelude::*;

/// Every parameter `t` becomes `t·(1 + v/2) + v/10` for a varied `v` in [−1, 1], so that batch
/// norms fold into something (γ 1 and β 0 fold to nothing).
pub struct Perturb;

impl ModuleMapper for Perturb {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        param.map(|t| {
            let shape = t.shape();
            let v: Vec<f32> = (0..shape.num_elements())
                .map(|i| ((i * 53 % 97) as f32 / 48.0) - 1.0)
                .collect();
            let v = Tensor::<D>::from_data(TensorData::new(v, shape), &t.device());
            t.clone() * (v.clone() * 0.5 + 1.0) + v * 0.1
        })
    }
}
