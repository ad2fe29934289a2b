"""PyTorch side of brownout: exporting what brownout reads, and training
with the erasure regularizer (docs/fault-models.md section 9).

Needs torch (and onnx for export). Nothing here talks to brownoutd.

Design. `export` wraps torch.onnx.export with the choices brownout cares
about (a dynamic batch axis, BatchNorm folded or kept, the opset) and
writes the normalisation and the training p_e into the ONNX
metadata_props that brownout reads (brownout.mean, brownout.std,
brownout.erasure_pe).

`ErasureRegularizer` erases, in training mode only, each stored value with
probability p_e and sets it to 0 without rescaling:
 - weights: every floating-point parameter of more than one value (conv
   and linear weights and biases, normalisation affine pairs, embeddings;
   never scalars), through a parametrization that draws one fresh mask each
   time the weight is read, i.e. once per forward pass (one chip per
   batch);
 - activation sites: the output of every activation function (ReLU, ReLU6,
   LeakyReLU, PReLU, ELU, SELU, CELU, Sigmoid, HardSigmoid, HardSwish,
   Tanh, Softplus, Softsign, GELU, SiLU, Mish), whether called as a module
   or functionally (F.relu in a forward), intercepted with a
   TorchFunctionMode active only during the model's forward pass; the mask
   is drawn per element, so per sample. Erasing the sigmoid of a SiLU
   x * sigmoid(x) erases the product, as the spec's site is.
Gradients flow through the values that were kept. In eval mode nothing is
erased. Use it as a context manager around training, or as a wrapper
module.
"""
import contextlib
import io

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils import parametrize
from torch.overrides import TorchFunctionMode

__all__ = ["export", "ErasureRegularizer", "ACTIVATION_FUNCTIONS"]


def _activation_functions():
    names_f = ["relu", "relu_", "relu6", "leaky_relu", "leaky_relu_", "prelu", "elu", "elu_",
               "selu", "selu_", "celu", "celu_", "sigmoid", "hardsigmoid", "hardswish", "tanh",
               "softplus", "softsign", "gelu", "silu", "mish", "hardtanh", "hardtanh_"]
    names_t = ["relu", "relu_", "sigmoid", "sigmoid_", "tanh", "tanh_", "selu", "selu_",
               "celu", "celu_", "prelu", "rrelu"]
    fs = set()
    for n in names_f:
        if hasattr(F, n):
            fs.add(getattr(F, n))
    for n in names_t:
        if hasattr(torch, n):
            fs.add(getattr(torch, n))
        if hasattr(torch.Tensor, n):
            fs.add(getattr(torch.Tensor, n))
    return frozenset(fs)


ACTIVATION_FUNCTIONS = _activation_functions()


class _EraseParam(nn.Module):
    """Parametrization: zero each value with probability p in training mode."""

    def __init__(self, reg):
        super().__init__()
        self._reg = [reg]  # a list: not a submodule

    def forward(self, w):
        reg = self._reg[0]
        if not self.training or not reg.weights or reg.p_e <= 0:
            return w
        reg.weight_draws += 1
        return w * (torch.rand_like(w) >= reg.p_e).to(w.dtype)


class _ActivationMode(TorchFunctionMode):
    def __init__(self, reg):
        super().__init__()
        self.reg = reg

    def __torch_function__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if func in ACTIVATION_FUNCTIONS and isinstance(out, torch.Tensor) and \
                out.is_floating_point():
            self.reg.activation_draws += 1
            out = out * (torch.rand_like(out) >= self.reg.p_e).to(out.dtype)
        return out


class ErasureRegularizer(nn.Module):
    """Train `model` with erasures at rate p_e (spec section 9).

        with ErasureRegularizer(model, 0.02):      # as a context manager
            train(model)
        robust = ErasureRegularizer(model, 0.02)   # or as a wrapper module
        loss = F.cross_entropy(robust(x), y)
        robust.remove()                            # the plain model again

    Only in training mode; `weights` / `activations` switch either part
    off. `weight_draws` and `activation_draws` count the masks drawn."""

    def __init__(self, model, p_e, weights=True, activations=True, attach=True):
        super().__init__()
        if not 0 <= p_e < 1:
            raise ValueError("p_e must be in [0, 1), not %r" % (p_e,))
        self.model = model
        self.p_e = float(p_e)
        self.weights = weights
        self.activations = activations
        self.weight_draws = 0
        self.activation_draws = 0
        self._attached = []
        self._saved_forward = None
        if attach:
            self._attach()

    def _attach(self):
        if self._attached:
            return
        for mod in list(self.model.modules()):
            for name, prm in list(mod.named_parameters(recurse=False)):
                if prm.is_floating_point() and prm.numel() > 1:
                    parametrize.register_parametrization(mod, name, _EraseParam(self))
                    self._attached.append((mod, name))
        if not self.model.training:
            # parametrizations start in training mode; follow the model's
            for mod, _ in self._attached:
                mod.parametrizations.eval()

    def remove(self):
        """Take the parametrizations off; the model's weights are the trained
        values, unchanged."""
        for mod, name in self._attached:
            if parametrize.is_parametrized(mod, name):
                parametrize.remove_parametrizations(mod, name, leave_parametrized=False)
        self._attached = []
        return self.model

    @contextlib.contextmanager
    def _masking(self):
        if self.model.training and self.activations and self.p_e > 0:
            with _ActivationMode(self):
                yield
        else:
            yield

    def forward(self, *args, **kwargs):
        with self._masking():
            return self.model(*args, **kwargs)

    def __enter__(self):
        self._attach()
        inner = self.model.forward
        reg = self

        def forward(*args, **kwargs):
            with reg._masking():
                return inner(*args, **kwargs)

        self._saved_forward = inner
        self.model.forward = forward
        return self

    def __exit__(self, *exc):
        if self._saved_forward is not None:
            del self.model.forward  # the instance attribute; the class's is back
            self._saved_forward = None
        self.remove()
        return False


def export(model, example, f, mean=None, std=None, dynamic_batch=True, batchnorm="keep",
           opset=13, erasure_pe=None, input_name="input", output_name="logits"):
    """Export `model` (evaluated on `example`, a batch of inputs) to ONNX at
    f (a path or a binary file object) as brownout reads it:
    - dynamic_batch: the batch axis is dynamic (brownout runs any batch);
    - batchnorm: "keep" keeps BatchNormalization nodes (the spec stores BN
      as (scale, shift) parameters of their own), "fold" lets the exporter
      fold them into the convolutions (fewer parameters, another energy);
    - mean, std: the normalisation (one value or one per channel) written
      as brownout.mean / brownout.std;
    - erasure_pe: recorded as brownout.erasure_pe for a model trained with
      the regularizer.
    Returns the onnx.ModelProto."""
    import onnx
    if batchnorm not in ("keep", "fold"):
        raise ValueError("batchnorm must be 'keep' or 'fold', not %r" % (batchnorm,))
    was_training = model.training
    model.eval()
    buf = io.BytesIO()
    kw = {}
    if dynamic_batch:
        kw["dynamic_axes"] = {input_name: {0: "batch"}, output_name: {0: "batch"}}
    try:
        with torch.no_grad():
            torch.onnx.export(model, example, buf, opset_version=opset,
                              input_names=[input_name], output_names=[output_name],
                              do_constant_folding=True,
                              training=(torch.onnx.TrainingMode.PRESERVE if batchnorm == "keep"
                                        else torch.onnx.TrainingMode.EVAL), **kw)
    finally:
        model.train(was_training)
    m = onnx.load_from_string(buf.getvalue())

    def put(key, value):
        for p in m.metadata_props:
            if p.key == key:
                p.value = value
                return
        p = m.metadata_props.add()
        p.key = key
        p.value = value

    def text(v):
        vs = v if isinstance(v, (list, tuple)) else [v]
        return ",".join("%.8g" % float(x) for x in vs)

    if (mean is None) != (std is None):
        raise ValueError("give both mean and std, or neither")
    if mean is not None:
        put("brownout.mean", text(mean))
        put("brownout.std", text(std))
    if erasure_pe is not None:
        put("brownout.erasure_pe", "%.8g" % float(erasure_pe))
    onnx.checker.check_model(m)
    data = m.SerializeToString()
    if hasattr(f, "write"):
        f.write(data)
    else:
        with open(f, "wb") as out:
            out.write(data)
    return m
