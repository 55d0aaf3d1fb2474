"""bf16 autocast for training and for the teacher-logit pass on CPUs with native bf16 instructions; fp32 evaluation.

What is detected: the CPU flags ``avx512_bf16`` (AVX512-BF16: bf16 dot products, Cooper Lake and later) or
``amx_bf16`` (AMX tiles, Sapphire Rapids and later) in ``/proc/cpuinfo`` (Linux x86). Why: oneDNN runs bf16
matrix products on these instructions at about twice the fp32 rate (benchmarks/README.md, "Levers"); without them
bf16 is emulated and slower.
`torch.backends.cpu.get_cpu_capability()` reports only the vector width (``"AVX512"`` on both kinds of CPU), so the
flags are read directly. The teacher-logit pass (batches of 128 length-sorted rows) follows the training precision
(:func:`resolve_teacher_inference_dtype`); evaluation and profiling stay fp32, so that reported metrics and speeds
compare with fp32 runs.

The mechanism is Trainer's own: ``TrainingArguments.bf16`` makes accelerate wrap the model's forward in
``torch.autocast("cpu", dtype=torch.bfloat16)`` (weights and optimizer stay fp32). GPUs are left to their own flags
(``--bf16`` / ``--fp16``).
"""

from __future__ import annotations

from contextlib import ExitStack, contextmanager

import torch
from torch import nn
from transformers import TrainingArguments
from transformers.utils import logging

logger = logging.get_logger(__name__)
CPU_BF16_CHOICES = ("auto", "true", "false")
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")


def cpu_flags(path: str = "/proc/cpuinfo") -> set[str]:
    """The CPU's feature flags (the ``flags`` line of ``/proc/cpuinfo``); empty where that file does not exist."""
    try:
        with open(path) as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def cpu_supports_bf16() -> bool:
    """Whether this CPU computes bf16 natively (``avx512_bf16`` or ``amx_bf16``; see the module docstring)."""
    return bool(cpu_flags() & set(BF16_CPU_FLAGS))


def trains_on_cpu(args: TrainingArguments) -> bool:
    """Whether Trainer will train on the CPU: ``use_cpu`` or no CUDA/XPU/MPS device (without touching ``args.device``,
    which would set up the distributed state)."""
    if args.use_cpu:
        return True
    accelerators = (torch.cuda.is_available(), hasattr(torch, "xpu") and torch.xpu.is_available(),
                    torch.backends.mps.is_available())
    return not any(accelerators)


def apply_cpu_bf16(args: TrainingArguments, choice: str = "auto") -> dict:
    """Turn on bf16 autocast for CPU training per ``choice``, in place on ``args``; return what was decided.

    ``"auto"``: on where the CPU has native bf16 (:func:`cpu_supports_bf16`), fp32 elsewhere; ``"true"``/``"false"``
    force it. On a GPU nothing changes (``"auto"`` means nothing there; its own ``--bf16``/``--fp16`` apply) and
    ``"true"`` is a ``ValueError``. Returns ``{"cpu_bf16": choice, "device": "cpu"|"accelerator", "supported":
    bool, "training_precision": "bf16 autocast"|"fp32"|"as --bf16/--fp16 say"}`` for results.json.
    """
    if choice not in CPU_BF16_CHOICES:
        raise ValueError(f"cpu_bf16 must be one of {', '.join(CPU_BF16_CHOICES)}, got {choice!r}.")
    supported = cpu_supports_bf16()
    info = {"cpu_bf16": choice, "supported": supported}
    if not trains_on_cpu(args):
        if choice == "true":
            raise ValueError("--cpu_bf16 true applies to CPU training, but this run trains on a GPU: use --bf16 true "
                             "(or --fp16 true) for mixed precision there, or --use_cpu true to train on the CPU.")
        return {**info, "device": "accelerator",
                "training_precision": "bf16" if args.bf16 else "fp16" if args.fp16 else "fp32"}
    if args.fp16:
        raise ValueError("--fp16 on the CPU is not supported by hfdistill; use --cpu_bf16 auto|true for bf16 autocast.")
    if choice == "false" and args.bf16:
        raise ValueError("--cpu_bf16 false contradicts --bf16 true on the CPU; drop one of them.")
    use = args.bf16 or choice == "true" or (choice == "auto" and supported)
    if use and not supported:
        logger.warning("bf16 autocast on a CPU without avx512_bf16/amx_bf16: bf16 is emulated there and likely slower.")
    # TrainingArguments.__post_init__ derives mixed_precision from bf16 (accelerate reads mixed_precision): set both.
    args.bf16, args.mixed_precision = use, "bf16" if use else "no"
    if use and not args.use_cpu:
        # No GPU here, and TrainingArguments refuses bf16 without one unless use_cpu is set ("Your setup doesn't
        # support bf16/gpu"): the teacher's arguments are built anew from these fields.
        args.use_cpu, args.dataloader_pin_memory = True, False  # as TrainingArguments sets them for use_cpu
    return {**info, "device": "cpu", "training_precision": "bf16 autocast" if use else "fp32"}


TEACHER_INFERENCE_DTYPES = ("auto", "float32", "bfloat16", "float16")


def resolve_teacher_inference_dtype(choice: str, precision: dict) -> str:
    """The precision of the teacher-logit pass: ``choice`` unless it is ``"auto"``, which means ``"bfloat16"`` when
    training runs with CPU bf16 autocast (``precision["training_precision"] == "bf16 autocast"``, from
    :func:`apply_cpu_bf16`) and ``"float32"`` otherwise (a GPU keeps fp32 unless asked). ``ValueError`` for an
    unknown choice."""
    if choice not in TEACHER_INFERENCE_DTYPES:
        raise ValueError(
            f"teacher_inference_dtype must be one of {', '.join(TEACHER_INFERENCE_DTYPES)}, got {choice!r}."
        )
    if choice != "auto":
        return choice
    return "bfloat16" if precision.get("training_precision") == "bf16 autocast" else "float32"


def _forward_owner(model: nn.Module) -> nn.Module:
    """The module whose ``forward`` accelerate wrapped: DDP and the like hold the model as ``.module``."""
    inner = getattr(model, "module", None)
    return inner if isinstance(inner, nn.Module) else model


def remove_autocast_wrapper(model: nn.Module) -> nn.Module:
    """Take accelerate's mixed-precision wrapper off ``model.forward`` for good: the forward it replaced (kept as
    ``_original_forward``) comes back as it was. accelerate's own ``unwrap_model(keep_fp32_wrapper=False)`` unwinds
    every ``functools.wraps`` layer instead, transformers' ``can_return_tuple`` decorator included, which leaves a
    forward that fails on ``return_dict=True`` ("got multiple values for keyword argument 'return_dict'")."""
    target = _forward_owner(model)
    original = target.__dict__.pop("_original_forward", None)
    if original is not None:
        if getattr(original, "__func__", None) is getattr(type(target), "forward", None):
            target.__dict__.pop("forward", None)  # the class's own (decorated) forward again
        else:
            target.forward = original
    return model


@contextmanager
def without_autocast_wrapper(model: nn.Module):
    """Run ``model`` in its own precision (fp32) inside the block, undoing accelerate's mixed-precision wrapper.

    Under mixed precision accelerate's ``prepare_model`` replaces ``model.forward`` with an autocast wrapper and keeps
    the original as ``model._original_forward``; an inner ``torch.autocast(enabled=False)`` cannot undo it, since the
    wrapper enters autocast again inside. The wrapper is put back on leaving the block.
    """
    model = _forward_owner(model)
    original = model.__dict__.get("_original_forward")
    if original is None:
        yield
        return
    wrapped = model.__dict__.get("forward")
    model.forward = original
    try:
        yield
    finally:
        if wrapped is not None:
            model.forward = wrapped


@contextmanager
def without_autocast_wrappers(model: nn.Module):
    """`without_autocast_wrapper` for ``model`` and every submodule that carries one (the teachers inside a
    `hfdistill.teachers.TeacherEnsemble`, each evaluated on its own before)."""
    with ExitStack() as stack:
        for module in model.modules():
            stack.enter_context(without_autocast_wrapper(module))
        yield


class Fp32CpuEvaluationMixin:
    """Put before `transformers.Trainer` in a subclass's bases: evaluation and prediction on the CPU run in fp32
    even when training autocasts to bf16, and the trained model comes out of `train()` without the autocast wrapper.

    fp32 metrics compare with fp32 runs. GPUs keep Trainer's behaviour.
    """

    def _cpu_bf16(self) -> bool:
        return bool(self.args.bf16) and trains_on_cpu(self.args)

    def prediction_step(self, model, inputs, prediction_loss_only, ignore_keys=None):
        if not self._cpu_bf16():
            return super().prediction_step(model, inputs, prediction_loss_only, ignore_keys=ignore_keys)
        with without_autocast_wrapper(model):
            return super().prediction_step(model, inputs, prediction_loss_only, ignore_keys=ignore_keys)

    def train(self, *args, **kwargs):
        output = super().train(*args, **kwargs)
        if self._cpu_bf16():  # what is used after training (logits, profiling, saving) runs in fp32
            remove_autocast_wrapper(self.accelerator.unwrap_model(self.model))
        return output
