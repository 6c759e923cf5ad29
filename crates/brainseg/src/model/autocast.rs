//! Mixed precision: while an [`Autocast`] guard lives on a thread, the models' convolutions and
//! the U-Net's transposed convolutions on that thread compute in a 16-bit float type (f16 or
//! bf16) and hand f32 back; everything else (batch norm and its statistics, pooling,
//! interpolation, the loss) stays in f32, and the parameters stay f32 master weights (cast on
//! the way into each operation, so their gradients arrive in f32 through the cast's backward).
//!
//! The setting is per thread and scoped, as PyTorch's `autocast` is: the trainer sets it around
//! a training step's forward pass only, so validation, `train eval` and the page always run the
//! f32 model they ship. Half-precision matrix products are what a GPU's tensor cores run; on a
//! CPU they are not faster, so `train` accepts the setting for its GPU backends only.

use super::blocks::conv_im2col;
use burn::nn::PaddingConfig2d;
use burn::nn::conv::Conv2d;
use burn::prelude::*;
use burn::tensor::FloatDType;
use std::cell::Cell;

thread_local! {
    static COMPUTE: Cell<Option<FloatDType>> = const { Cell::new(None) };
}

/// While alive, this thread's convolutions compute in the guard's type; dropping it restores
/// the setting it replaced.
#[must_use = "the setting ends when the guard is dropped"]
pub struct Autocast {
    previous: Option<FloatDType>,
}

/// Computes this thread's convolutions in `dtype` (`None`: in f32) until the guard is dropped.
pub fn autocast(dtype: Option<FloatDType>) -> Autocast {
    Autocast {
        previous: COMPUTE.replace(dtype.filter(|d| *d != FloatDType::F32)),
    }
}

impl Drop for Autocast {
    fn drop(&mut self) {
        COMPUTE.set(self.previous);
    }
}

/// The 16-bit type this thread's convolutions compute in, if any.
pub fn compute() -> Option<FloatDType> {
    COMPUTE.get()
}

/// `conv.forward(x)` computed in `dtype`: input and weight cast down, the product handed back
/// in f32, the bias added in f32. The convolution runs as im2col and matrix products
/// ([`conv_im2col`]), not as burn's `conv2d`: burn 0.22.1's convolution gradients sum their
/// products in the tensors' own type, so in f16 the weight gradient (a sum over every pixel of
/// the batch) loses its small terms (measured on flex and on lavapipe: 49 % relative error at
/// 4 × 64², 87 % at 4 × 128²), while its matrix products sum in f32 (2 × 10⁻⁴ at 4,096 terms).
/// The models' layers are all "same", stride 1, undilated; a layer that is not computes in f32.
pub fn conv2d(conv: &Conv2d, x: Tensor<4>, dtype: FloatDType) -> Tensor<4> {
    let [k, k2] = conv.kernel_size;
    let same = k == k2
        && k % 2 == 1
        && conv.stride == [1, 1]
        && conv.dilation == [1, 1]
        && padding(conv) == [(k / 2, k / 2); 2];
    if !same {
        return conv.forward(x);
    }
    let y = conv_im2col(x.cast(dtype), conv.weight.val().cast(dtype)).cast(FloatDType::F32);
    match &conv.bias {
        Some(bias) => {
            let cout = bias.dims()[0];
            y + bias.val().reshape([1, cout, 1, 1])
        }
        None => y,
    }
}

/// The layer's padding as (before, after) pairs for the height and the width (burn keeps its own
/// conversion private; `Same` for stride 1 splits k − 1, the extra row after, as burn does).
fn padding(conv: &Conv2d) -> [(usize, usize); 2] {
    let same = |k: usize| ((k - 1) / 2, k - 1 - (k - 1) / 2);
    match conv.padding {
        PaddingConfig2d::Valid => [(0, 0); 2],
        PaddingConfig2d::Explicit(top, left, bottom, right) => [(top, bottom), (left, right)],
        PaddingConfig2d::Same => [same(conv.kernel_size[0]), same(conv.kernel_size[1])],
    }
}

/// `a.matmul(b)` computed in the thread's 16-bit type when one is set, the result in f32.
pub(crate) fn matmul<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> Tensor<D> {
    match compute() {
        Some(dtype) => a.cast(dtype).matmul(b.cast(dtype)).cast(FloatDType::F32),
        None => a.matmul(b),
    }
}
