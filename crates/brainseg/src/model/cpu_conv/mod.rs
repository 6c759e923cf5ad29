//! The models' "same" convolutions on the CPU backend (flex) through our kernels (`kernels`),
//! as a burn backend extension with its own backward pass. burn 0.22.1's flex convolution ran a
//! U-Net training step's 3×3 convolutions 2.4× (forward), 1.7× (input gradient) and 2.7× (weight
//! gradient) slower than these kernels on the same machine (docs/benchmarks.md): burn computes
//! the weight gradient as a convolution whose kernel is the size of the activation. Other
//! devices (wgpu) and other convolutions (grouped, strided, dilated) keep burn's.
//!
//! At inference (a device without autodiff) a convolution followed by batch norm runs as one
//! convolution: the normalisation's scale folded into the weights, its shift a bias, and the ReLU
//! that follows applied while each band is in cache (`conv_bn`), which saves the activation's
//! passes through burn's batch norm and ReLU. Without the `cpu-kernels` feature (the page's wasm)
//! only that inference path is built.

mod kernels;

#[cfg(feature = "cpu-kernels")]
use burn::backend::autodiff::{
    Autodiff,
    checkpoint::{base::Checkpointer, strategy::CheckpointStrategy},
    grads::Gradients,
    ops::{Backward, Ops, OpsKind},
};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{DispatchDevice, Flex, backend_extension};
use burn::nn::conv::Conv2d;
use burn::nn::{BatchNorm, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::DType;
use std::cell::Cell;

use kernels::{Epilogue, Geometry};

#[backend_extension(Autodiff: cfg(feature = "cpu-kernels"), Flex)]
pub trait SameConvBackend: burn::backend::Backend {
    /// `x` `[B, Cin, H, W]` convolved with `weight` `[Cout, Cin, k, k]` (k odd), stride 1, zero
    /// padding k/2, no bias.
    fn same_conv2d(x: FloatTensor<Self>, weight: FloatTensor<Self>) -> FloatTensor<Self>;
}

/// Inference only (no autodiff implementation: `conv_bn` calls it on devices without one).
#[backend_extension(Flex)]
pub trait SameConvBiasReluBackend: burn::backend::Backend {
    /// `same_conv2d(x, weight) + bias` (`[Cout]`, per output channel), then a ReLU if `relu`.
    fn same_conv2d_bias_relu(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        relu: bool,
    ) -> FloatTensor<Self>;
}

/// The data of a contiguous f32 flex tensor and its dims (also for `cpu_norm`).
pub(crate) fn contiguous(t: &FlexTensor) -> (FlexTensor, Vec<usize>) {
    let t = t.to_contiguous();
    let dims = t.layout().shape().to_vec();
    (t, dims)
}

/// The values of a tensor from `contiguous` (f32: the callers checked the dtype with `on_flex`).
pub(crate) fn slice(t: &FlexTensor) -> &[f32] {
    t.as_slice::<f32>()
        .expect("CPU kernels: a contiguous f32 tensor")
}

fn geometry(x: &[usize], weight: &[usize]) -> Geometry {
    Geometry {
        batch: x[0],
        cin: x[1],
        cout: weight[0],
        h: x[2],
        w: x[3],
        k: weight[2],
    }
}

fn flex_tensor(values: Vec<f32>, dims: [usize; 4]) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, dims))
}

fn forward(
    x: &FlexTensor,
    weight: &FlexTensor,
    bias: Option<&FlexTensor>,
    relu: bool,
) -> FlexTensor {
    let ((x, xd), (w, wd)) = (contiguous(x), contiguous(weight));
    let g = geometry(&xd, &wd);
    let bias = bias.map(|b| contiguous(b).0);
    let epilogue = Epilogue {
        bias: bias.as_ref().map(slice),
        relu,
    };
    flex_tensor(
        kernels::forward(&g, slice(&x), slice(&w), epilogue),
        [g.batch, g.cout, g.h, g.w],
    )
}

impl SameConvBackend for Flex {
    fn same_conv2d(x: FloatTensor<Self>, weight: FloatTensor<Self>) -> FloatTensor<Self> {
        forward(&x, &weight, None, false)
    }
}

impl SameConvBiasReluBackend for Flex {
    fn same_conv2d_bias_relu(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        relu: bool,
    ) -> FloatTensor<Self> {
        forward(&x, &weight, Some(&bias), relu)
    }
}

#[cfg(feature = "cpu-kernels")]
#[derive(Debug)]
struct SameConvBackward;

#[cfg(feature = "cpu-kernels")]
impl Backward<Flex, 2> for SameConvBackward {
    /// The forward pass's input and weight.
    type State = (FlexTensor, FlexTensor);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [x_node, weight_node] = ops.parents;
        let (grad, grad_dims) = contiguous(&grads.consume::<Flex>(&ops.node));
        let ((x, xd), (w, wd)) = (contiguous(&ops.state.0), contiguous(&ops.state.1));
        debug_assert_eq!(grad_dims, [xd[0], wd[0], xd[2], xd[3]]);
        let g = geometry(&xd, &wd);
        if let Some(node) = x_node {
            let dx = kernels::input_grad(&g, slice(&grad), slice(&w));
            grads.register::<Flex>(node.id, flex_tensor(dx, [g.batch, g.cin, g.h, g.w]));
        }
        if let Some(node) = weight_node {
            let dw = kernels::weight_grad(&g, slice(&x), slice(&grad));
            grads.register::<Flex>(node.id, flex_tensor(dw, [g.cout, g.cin, g.k, g.k]));
        }
    }
}

#[cfg(feature = "cpu-kernels")]
impl<C: CheckpointStrategy> SameConvBackend for Autodiff<Flex, C> {
    fn same_conv2d(x: FloatTensor<Self>, weight: FloatTensor<Self>) -> FloatTensor<Self> {
        match SameConvBackward
            .prepare::<C>([x.node(), weight.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let (x, weight) = (x.primitive().clone(), weight.primitive().clone());
                let out = forward(&x, &weight, None, false);
                prep.finish((x, weight), out)
            }
            OpsKind::UnTracked(prep) => {
                prep.finish(forward(x.primitive(), weight.primitive(), None, false))
            }
        }
    }
}

/// Whether `x` lives on the flex backend (with or without autodiff) as f32.
pub fn on_flex(x: &Tensor<4>) -> bool {
    matches!(x.device().inner().as_dispatch(), DispatchDevice::Flex(_)) && x.dtype() == DType::F32
}

/// `x` `[B, Cin, H, W]` convolved with `weight` `[Cout, Cin, k, k]` (k odd; stride 1, zero padding
/// k/2, no bias) by these kernels. `x` must be an f32 tensor on a flex device (`applies`).
pub fn same_conv2d(x: Tensor<4>, weight: Tensor<4>) -> Tensor<4> {
    let [_, cin, _, _] = x.dims();
    let [_, wcin, k, k2] = weight.dims();
    assert!(
        on_flex(&x) && wcin == cin && k == k2 && k % 2 == 1,
        "same_conv2d: an f32 flex input and an odd square kernel over its channels"
    );
    Tensor::from_dispatch(<burn::backend::Dispatch as SameConvBackend>::same_conv2d(
        x.into_dispatch(),
        weight.into_dispatch(),
    ))
}

thread_local! {
    /// Whether the models called on this thread use these kernels where they apply (on by
    /// default). Per thread, so that a test comparing both paths leaves the others alone.
    static ENABLED: Cell<bool> = const { Cell::new(true) };
}

/// Turns these kernels (and the fused batch norm, `cpu_norm`) on or off for the models run on
/// the calling thread: off, flex runs every convolution and batch norm with burn's kernels
/// (`train bench --burn-conv`, to compare the two in one run).
pub fn set_enabled(on: bool) {
    ENABLED.set(on);
}

/// Whether the CPU kernels are on for the calling thread (`set_enabled`).
pub fn enabled() -> bool {
    ENABLED.get()
}

/// Whether `conv` on `x` is one these kernels compute: a flex f32 input, an odd square kernel,
/// stride 1, no dilation, no groups, zero padding k/2 on every side (and the kernels are on:
/// `set_enabled`). A bias is added after them.
pub fn applies(conv: &Conv2d, x: &Tensor<4>) -> bool {
    let [k, k2] = conv.kernel_size;
    let p = k / 2;
    // With stride 1 and an odd kernel, `Same` is k/2 on every side too.
    let same = match conv.padding {
        PaddingConfig2d::Same => true,
        PaddingConfig2d::Explicit(t, l, b, r) => [t, l, b, r] == [p; 4],
        PaddingConfig2d::Valid => k == 1,
    };
    k == k2
        && k % 2 == 1
        && same
        && conv.stride == [1, 1]
        && conv.dilation == [1, 1]
        && conv.groups == 1
        && on_flex(x)
        && enabled()
}

/// `conv.forward(x)`, through these kernels where they apply (`applies`); a bias is added with
/// burn's tensor ops (its gradient too).
pub fn conv2d(conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    if !applies(conv, &x) {
        return conv.forward(x);
    }
    let y = same_conv2d(x, conv.weight.val());
    match &conv.bias {
        Some(bias) => {
            let [cout] = bias.dims();
            y + bias.val().reshape([1, cout, 1, 1])
        }
        None => y,
    }
}

/// `bn(conv(x))`, then a ReLU if `then_relu`, as one convolution at inference: the batch norm's
/// running statistics folded into the weights and a bias, the ReLU applied inside the kernel.
/// `None` where it does not apply: `conv` not one of these kernels' (`applies`), or a device with
/// autodiff (training, where the batch statistics are used instead).
pub fn conv_bn(conv: &Conv2d, bn: &BatchNorm, x: &Tensor<4>, then_relu: bool) -> Option<Tensor<4>> {
    if !applies(conv, x) || x.device().is_autodiff() {
        return None;
    }
    let device = x.device();
    let [cout] = bn.gamma.dims();
    // y = γ·(conv(x) + b − μ)/√(σ² + ε) + β = conv_{w·s}(x) + (b − μ)·s + β, s = γ/√(σ² + ε)
    let scale = bn.gamma.val()
        / bn.running_var
            .value()
            .to_device(&device)
            .add_scalar(bn.epsilon)
            .sqrt();
    let mean = bn.running_mean.value().to_device(&device);
    let centred = match &conv.bias {
        Some(b) => b.val() - mean,
        None => mean.neg(),
    };
    let bias = centred * scale.clone() + bn.beta.val();
    let weight = conv.weight.val() * scale.reshape([cout, 1, 1, 1]);
    Some(Tensor::from_dispatch(
        <burn::backend::Dispatch as SameConvBiasReluBackend>::same_conv2d_bias_relu(
            x.clone().into_dispatch(),
            weight.into_dispatch(),
            bias.into_dispatch(),
            then_relu,
        ),
    ))
}
