//! The models' 2×2, stride-2 max pooling on the CPU backend (flex), with its own backward pass.
//! burn-flex 0.22.1 pools with an index tensor and scatters the gradient back through it (a
//! zeroed input-sized tensor, then a scalar indexed add per output value): about 12 % of an FPN
//! training step at f=16, 128² on this project's machine (`perf`, docs/benchmarks.md). Here the
//! backward recomputes which of each 2×2 window's four values was the largest (the first in
//! row-major order on a tie, as burn's and PyTorch's do) and writes every input gradient value
//! once, planes in parallel. Other devices, odd sizes and other pooling keep burn's.

use super::cpu_conv::{contiguous, slice};
use super::cpu_norm::planes_in_parallel;
use burn::backend::autodiff::Autodiff;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Flex, backend_extension};
use burn::nn::PaddingConfig2d;
use burn::nn::pool::MaxPool2d;
use burn::prelude::*;

#[backend_extension(Autodiff, Flex)]
pub trait MaxPool2x2Backend: burn::backend::Backend {
    /// The maximum of each 2×2 window of `x` `[B, C, H, W]` (H and W even), `[B, C, H/2, W/2]`.
    fn max_pool_2x2(x: FloatTensor<Self>) -> FloatTensor<Self>;
}

/// Which of a window's four values (top left, top right, bottom left, bottom right) is its
/// maximum: the first of equal values in that order.
#[inline]
fn argmax(top: &[f32], bottom: &[f32]) -> usize {
    let window = [top[0], top[1], bottom[0], bottom[1]];
    let mut best = 0;
    for i in 1..4 {
        if window[i] > window[best] {
            best = i;
        }
    }
    best
}

fn forward(x: &FlexTensor) -> FlexTensor {
    let (x, dims) = contiguous(x);
    let (h, w) = (dims[2], dims[3]);
    let (oh, ow) = (h / 2, w / 2);
    let xs = slice(&x);
    let out = planes_in_parallel(dims[0] * dims[1] * oh * ow, oh * ow, |i, o| {
        let src = &xs[i * h * w..][..h * w];
        // Output row y from input rows 2y and 2y + 1, window by window.
        for (row, pair) in o.chunks_exact_mut(ow).zip(src.chunks_exact(2 * w)) {
            let (top, bottom) = pair.split_at(w);
            for ((v, t), b) in row
                .iter_mut()
                .zip(top.chunks_exact(2))
                .zip(bottom.chunks_exact(2))
            {
                let best = argmax(t, b);
                v.write([t[0], t[1], b[0], b[1]][best]);
            }
        }
    });
    FlexTensor::from_data(TensorData::new(out, [dims[0], dims[1], oh, ow]))
}

impl MaxPool2x2Backend for Flex {
    fn max_pool_2x2(x: FloatTensor<Self>) -> FloatTensor<Self> {
        forward(&x)
    }
}

#[derive(Debug)]
struct MaxPoolBackward;

impl Backward<Flex, 1> for MaxPoolBackward {
    /// The input.
    type State = FlexTensor;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [x_node] = ops.parents;
        let (grad, _) = contiguous(&grads.consume::<Flex>(&ops.node));
        let Some(node) = x_node else { return };
        let (x, dims) = contiguous(&ops.state);
        let (h, w) = (dims[2], dims[3]);
        let (oh, ow) = (h / 2, w / 2);
        let (xs, dy) = (slice(&x), slice(&grad));
        // Each input value belongs to exactly one window: its gradient is the window's output
        // gradient where it was the window's maximum, 0 elsewhere.
        let dx = planes_in_parallel(dims[0] * dims[1] * h * w, h * w, |i, o| {
            let src = &xs[i * h * w..][..h * w];
            let d = &dy[i * oh * ow..][..oh * ow];
            let rows = o.chunks_exact_mut(2 * w).zip(src.chunks_exact(2 * w));
            for ((out, pair), d) in rows.zip(d.chunks_exact(ow)) {
                let (top, bottom) = pair.split_at(w);
                let (out_top, out_bottom) = out.split_at_mut(w);
                let windows = out_top
                    .chunks_exact_mut(2)
                    .zip(out_bottom.chunks_exact_mut(2))
                    .zip(top.chunks_exact(2).zip(bottom.chunks_exact(2)));
                for (((ot, ob), (t, b)), &g) in windows.zip(d) {
                    let best = argmax(t, b);
                    let at = |i: usize| if i == best { g } else { 0.0 };
                    ot[0].write(at(0));
                    ot[1].write(at(1));
                    ob[0].write(at(2));
                    ob[1].write(at(3));
                }
            }
        });
        grads.register::<Flex>(
            node.id,
            FlexTensor::from_data(TensorData::new(dx, dims.to_vec())),
        );
    }
}

impl<C: CheckpointStrategy> MaxPool2x2Backend for Autodiff<Flex, C> {
    fn max_pool_2x2(x: FloatTensor<Self>) -> FloatTensor<Self> {
        match MaxPoolBackward
            .prepare::<C>([x.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let x = x.primitive().clone();
                let out = forward(&x);
                prep.finish(x, out)
            }
            OpsKind::UnTracked(prep) => prep.finish(forward(x.primitive())),
        }
    }
}

/// `pool.forward(x)`, through the kernels above where they apply: a 2×2 window, stride 2, no
/// padding or dilation, an f32 flex input of even, non-zero height and width (and the CPU kernels on,
/// `cpu_conv::set_enabled`); burn's pooling elsewhere.
pub fn max_pool2d(pool: &MaxPool2d, x: Tensor<4>) -> Tensor<4> {
    let [_, _, h, w] = x.dims();
    let applies = pool.kernel_size == [2, 2]
        && pool.stride == [2, 2]
        && pool.dilation == [1, 1]
        && matches!(pool.padding, PaddingConfig2d::Valid)
        && h > 0
        && w > 0
        && h % 2 == 0
        && w % 2 == 0
        && super::cpu_conv::on_flex(&x)
        && super::cpu_conv::enabled();
    if !applies {
        return pool.forward(x);
    }
    Tensor::from_dispatch(
        <burn::backend::Dispatch as MaxPool2x2Backend>::max_pool_2x2(x.into_dispatch()),
    )
}
