import math

import pytest
import torch
from torch.testing import assert_close

from hfdistill.teachers.ensemble import combine_teacher_logits, normalized_weights
from hfdistill.losses import distillation_loss

T1 = torch.tensor([[2.0, 0.0], [0.0, 1.0]])
T2 = torch.tensor([[0.0, 0.0], [1.0, -1.0]])
STACKED = torch.stack([T1, T2], dim=1)  # (N=2, K=2, C=2)


def _softmax(row, temperature):
    exps = [math.exp(x / temperature) for x in row]
    return [e / sum(exps) for e in exps]


@pytest.mark.parametrize("temperature", [1.0, 2.0])
def test_single_label_ensemble_is_the_weighted_mean_of_softened_probabilities(temperature):
    combined = combine_teacher_logits(STACKED, [3.0, 1.0], temperature)
    for n in range(2):
        expected = [0.75 * a + 0.25 * b
                    for a, b in zip(_softmax(T1[n].tolist(), temperature), _softmax(T2[n].tolist(), temperature))]
        assert_close(torch.softmax(combined[n] / temperature, -1), torch.tensor(expected))


def test_multi_label_and_regression_ensembles_by_hand():
    sigmoid = lambda x: 1 / (1 + math.exp(-x))  # noqa: E731
    combined = combine_teacher_logits(STACKED, None, 2.0, "multi_label_classification")
    expected = [[0.5 * sigmoid(a / 2) + 0.5 * sigmoid(b / 2) for a, b in zip(r1, r2)]
                for r1, r2 in zip(T1.tolist(), T2.tolist())]
    assert_close(torch.sigmoid(combined / 2.0), torch.tensor(expected))
    scores = torch.tensor([[[1.0], [3.0]], [[2.0], [4.0]]])
    assert_close(combine_teacher_logits(scores, [1.0, 3.0], 2.0, "regression"), torch.tensor([[2.5], [3.5]]))
    assert_close(combine_teacher_logits(STACKED, [1.0, 1.0], 2.0, loss_type="mse"), (T1 + T2) / 2)  # logit matching


def test_one_teacher_is_the_single_teacher_case_exactly():
    one = T1[:, None, :]
    assert torch.equal(combine_teacher_logits(one, None, 2.0), T1)
    assert torch.equal(combine_teacher_logits(T1, None, 2.0), T1)
    loss = distillation_loss(T2, combine_teacher_logits(one, None, 2.0), torch.tensor([0, 1]), temperature=2.0).loss
    assert_close(loss, distillation_loss(T2, T1, torch.tensor([0, 1]), temperature=2.0).loss)


def test_bad_weights():
    with pytest.raises(ValueError, match="2 teacher weights for 3 teachers"):
        normalized_weights([1, 2], 3)
    with pytest.raises(ValueError, match="must be >= 0 and not all 0"):
        normalized_weights([1, -1], 2)


def test_a_teacher_ensemble_is_measured_like_one_model(tokenizer):
    from conftest import tiny_bert
    from hfdistill import model_stats
    from hfdistill.teachers.ensemble import TeacherEnsemble

    teachers = [tiny_bert(seed=0), tiny_bert(seed=3)]
    ensemble = TeacherEnsemble(teachers, [1, 3]).eval()
    inputs = tokenizer(["good film", "bad plot"], return_tensors="pt", padding=True)
    with torch.no_grad():
        each = torch.stack([t.eval()(**inputs).logits for t in teachers], dim=1)
        probabilities = torch.softmax(ensemble(**inputs).logits, -1)
    assert_close(probabilities, 0.25 * torch.softmax(each[:, 0], -1) + 0.75 * torch.softmax(each[:, 1], -1))
    stats = model_stats(ensemble, tokenizer, ["good film", "bad plot"], max_length=16, num_latency_examples=2)
    assert stats.num_parameters == sum(p.numel() for t in teachers for p in t.parameters())
    assert stats.disk_size_mb * 2**20 >= 4 * stats.num_parameters
