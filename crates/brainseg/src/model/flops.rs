//! Convolution inventory of each architecture, for FLOP counts in the experiment table.
//!
//! Written out by hand because burn has no FLOP counter; a test checks the inventory against the
//! weights of the built models, so a layer added to a model but not here fails it.

use super::{Arch, ModelConfig};

/// One convolution as it runs on an `N × N` input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvLayer {
    pub cin: usize,
    pub cout: usize,
    pub kernel: usize,
    pub groups: usize,
    /// Side of the output feature map.
    pub out_side: usize,
    /// A 2×2 stride-2 transposed convolution (each output pixel sees one input pixel per weight).
    pub transposed: bool,
}

impl ConvLayer {
    fn new(cin: usize, cout: usize, kernel: usize, out_side: usize) -> Self {
        Self {
            cin,
            cout,
            kernel,
            groups: 1,
            out_side,
            transposed: false,
        }
    }

    /// Weight elements (no bias).
    pub fn weights(&self) -> usize {
        self.cin / self.groups * self.cout * self.kernel * self.kernel
    }

    /// Multiply-accumulates for one slice.
    pub fn macs(&self) -> u64 {
        let per_pixel = if self.transposed {
            // Stride 2, kernel 2: each output pixel gets exactly one kernel tap per channel pair.
            self.cin * self.cout
        } else {
            self.weights()
        };
        per_pixel as u64 * (self.out_side * self.out_side) as u64
    }
}

impl ModelConfig {
    /// The convolutions a forward pass on one `size × size` slice runs. Longer than the other
    /// functions on purpose: one arm per architecture, each mirroring its constructor, so that
    /// a change of layout shows up in one place.
    pub fn conv_layers(&self, size: usize) -> Vec<ConvLayer> {
        let (f, l) = (self.width, self.levels);
        let w = |i: usize| self.level_width(i);
        let side = |i: usize| size >> i;
        let mut out = Vec::new();
        let unet_block =
            |out: &mut Vec<ConvLayer>, cin: usize, cout: usize, s: usize, residual: bool| {
                out.push(ConvLayer::new(cin, cout, 3, s));
                out.push(ConvLayer::new(cout, cout, 3, s));
                if residual && cin != cout {
                    out.push(ConvLayer::new(cin, cout, 1, s));
                }
            };
        match self.arch {
            Arch::Unet | Arch::Resunet => {
                let r = self.arch == Arch::Resunet;
                for i in 0..l {
                    unet_block(
                        &mut out,
                        if i == 0 { 3 } else { w(i - 1) },
                        w(i),
                        side(i),
                        r,
                    );
                }
                unet_block(&mut out, w(l - 1), w(l), side(l), r);
                for i in 0..l {
                    out.push(ConvLayer {
                        transposed: true,
                        ..ConvLayer::new(w(i + 1), w(i), 2, side(i))
                    });
                    unet_block(&mut out, 2 * w(i), w(i), side(i), r);
                }
                out.push(ConvLayer::new(f, 1, 1, size));
            }
            Arch::ResnextUnet => {
                out.push(ConvLayer::new(3, f, 3, size));
                for i in 1..=l {
                    let (cin, cout, mid, s) = (w(i - 1), w(i), w(i) / 2, side(i));
                    out.push(ConvLayer::new(cin, mid, 1, s));
                    out.push(ConvLayer {
                        groups: self.cardinality,
                        ..ConvLayer::new(mid, mid, 3, s)
                    });
                    out.push(ConvLayer::new(mid, cout, 1, s));
                    // The shortcut is projected only where the width changes (not under a cap).
                    if cin != cout {
                        out.push(ConvLayer::new(cin, cout, 1, s));
                    }
                }
                for i in 0..l {
                    out.push(ConvLayer::new(w(i + 1) + w(i), w(i), 3, side(i)));
                }
                out.push(ConvLayer::new(f, 1, 1, size));
            }
            Arch::Fpn => {
                for i in 0..=l {
                    unet_block(
                        &mut out,
                        if i == 0 { 3 } else { w(i - 1) },
                        w(i),
                        side(i),
                        false,
                    );
                }
                for i in 1..=l {
                    out.push(ConvLayer::new(w(i), 4 * f, 1, side(i)));
                    out.push(ConvLayer::new(4 * f, 2 * f, 3, side(i)));
                }
                out.push(ConvLayer::new(2 * f, 1, 1, size / 2));
            }
        }
        out
    }

    /// Convolution FLOPs (2 × multiply-accumulates) for one `size × size` slice. BatchNorm,
    /// activations, pooling and interpolation are left out: under 2 % for these models.
    pub fn flops_per_slice(&self, size: usize) -> u64 {
        2 * self
            .conv_layers(size)
            .iter()
            .map(ConvLayer::macs)
            .sum::<u64>()
    }
}

#[cfg(test)]
mod tests {
    use super::super::Model;
    use super::*;
    use burn::prelude::*;

    /// Weight elements of every rank-4 parameter (conv and transposed-conv kernels) of a model.
    fn conv_weights(model: &Model) -> usize {
        struct V(usize);
        impl burn::module::ModuleVisitor for V {
            fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<Tensor<D>>) {
                if D == 4 {
                    self.0 += param.shape().num_elements();
                }
            }
        }
        let mut v = V(0);
        model.visit(&mut v);
        v.0
    }

    #[test]
    fn inventory_matches_the_built_models() {
        let device = Device::flex();
        for arch in Arch::ALL {
            // The last: the two deepest levels capped at the width of the third.
            for (width, levels, max_width) in [(8, 3, 0), (16, 4, 0), (8, 4, 32)] {
                let cfg = ModelConfig {
                    arch,
                    width,
                    levels,
                    cardinality: 4,
                    context: 0,
                    norm: Default::default(),
                    max_width,
                };
                let model = cfg.init(&device).unwrap();
                let listed: usize = cfg.conv_layers(64).iter().map(ConvLayer::weights).sum();
                assert_eq!(
                    listed,
                    conv_weights(&model),
                    "{arch} f={width} levels={levels} max width {max_width}"
                );
            }
        }
    }

    #[test]
    fn unet_flops_by_hand() {
        // f=2, one level, 4×4 input. MACs: encoder 3→2 and 2→2 at 4² (864 + 576), bottleneck
        // 2→4 and 4→4 at 2² (288 + 576), up-conv 4→2 to 4² (128), decoder 4→2 and 2→2 at 4²
        // (1152 + 576), head 2→1 at 4² (32): 4192 MACs.
        let cfg = ModelConfig {
            arch: Arch::Unet,
            width: 2,
            levels: 1,
            cardinality: 1,
            context: 0,
            norm: Default::default(),
            max_width: 0,
        };
        assert_eq!(cfg.flops_per_slice(4), 2 * 4192);
        // Halving the side quarters the count exactly.
        let reference = ModelConfig::new(Arch::Unet, 32);
        assert_eq!(
            reference.flops_per_slice(128) * 4,
            reference.flops_per_slice(256)
        );
    }
}
