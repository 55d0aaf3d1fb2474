"""ONNX Runtime's transformer fusions for an exported encoder, applied before int8 quantization
(:func:`hfdistill.export.onnx.export_to_onnx`, which checks the fused graph against the plain one).

onnxscript and onnx-ir are imported when the function runs (``pip install "hfdistill[export]"``).
"""

from __future__ import annotations


def fuse_for_onnx_runtime(source: str, target: str) -> dict[str, int]:
    """Rewrite ``source`` into ``target`` with ONNX Runtime's transformer fusions; return ``{op_type: count}`` of
    the fused operators written (empty when no pattern matched, e.g. an attention of another shape).

    The fusions are onnxscript's (``onnxscript.rewriter.ort_fusions``, the ones ``optimize_for_ort`` applies), in
    its order: ``SkipLayerNormalization`` (residual add + LayerNorm), ``MultiHeadAttention`` (scaled dot-product
    attention, its padding mask and the Q/K/V biases) and ``BiasGelu``: ``com.microsoft`` operators of ONNX
    Runtime's CPU provider, plus onnxscript's ``FusedMatMul`` and Softmax clean-ups. ``MultiHeadAttention`` takes the
    padding mask as a ``(batch, 1, sequence, sequence)`` bias, which ONNX Runtime computes right on the CPU from
    1.22 (added in microsoft/onnxruntime#21710, its batch > 1 offset fixed in #24017); checked here with ONNX Runtime
    1.32 (Python) and onnxruntime-node 1.30 (transformers.js). Its last attention step, the packed ``Attention``
    operator, is left out on purpose: it moves the Q/K/V projections inside the node, where
    ``quantize_dynamic`` leaves them in fp32 (it skips ``Attention`` nodes with ``qkv_hidden_sizes``), whereas
    ``MultiHeadAttention`` keeps them as three ``MatMul`` nodes it quantizes. On a MiniLM-L6 SST-2 student (2
    threads, batch 32; benchmarks/int8_routes.py) the int8 file fused this way ran 1.13x and 1.16x as fast as
    unfused in two runs, the packed form 0.88x and 0.99x (benchmarks/README.md, "Any teacher, any student").
    MPNet's attention, which adds a relative position bias, matches no pattern and stays as it is.

    Raises ValueError when the rewrite leaves an operator outside the standard and ``com.microsoft`` domains (an
    intermediate one of onnxscript's); onnxscript's rewriters raise their own errors on graphs they do not expect.
    """
    import onnx_ir as ir
    import onnx_ir.passes.common as common_passes
    from onnxscript import optimizer
    from onnxscript.rewriter import rewrite
    from onnxscript.rewriter.ort_fusions import (ORT_PATTERN_REWRITE_RULES, bias_gelu, erfgelu, gelu, mha, mha_bias,
                                                 mha_scale, sdpa, sdpa_via_mha, shape_optimization,
                                                 skip_normalization)

    model = ir.load(source)
    common_passes.ShapeInferencePass()(model)  # the fusions below match on shapes
    optimizer.optimize(model)
    shape_optimization.rules.apply_to_model(model)
    optimizer.optimize(model)
    for fuse, kwargs in ((erfgelu.fuse_erfgelu, {}), (skip_normalization.fuse_skip_layer_normalization, {}),
                         (sdpa.fuse_sdpa, {"apply_shape_inference": True}), (mha.fuse_mha2, {}),
                         (mha_scale.fuse_mha_scale, {}), (mha_bias.fuse_mha_bias, {}), (gelu.fuse_gelu, {}),
                         (bias_gelu.fuse_bias_gelu, {}), (sdpa_via_mha.replace_sdpa_by_mha, {})):
        fuse(model, **kwargs)  # the last one turns an SDPA that no MultiHeadAttention pattern took into one
    # Folds what the fusions left constant (e.g. a transposed weight) into initializers: the quantizer only makes
    # MatMuls with a constant weight int8, and the FusedMatMul rewrite below would otherwise swallow them.
    optimizer.optimize(model, input_size_limit=1 << 30, output_size_limit=1 << 30)
    rewrite(model, ORT_PATTERN_REWRITE_RULES)  # FusedMatMul, Softmax clean-ups
    common_passes.ShapeInferencePass()(model)
    fused, foreign = {}, set()
    for node in model.graph:
        if node.domain == "com.microsoft":
            fused[node.op_type] = fused.get(node.op_type, 0) + 1
        elif node.domain not in ("", "ai.onnx"):
            foreign.add(f"{node.domain}.{node.op_type}")
    if foreign:  # an intermediate operator of onnxscript's that no runtime implements
        raise ValueError(f"the fusions left operators no runtime runs: {sorted(foreign)}")
    ir.save(model, target)
    return fused
