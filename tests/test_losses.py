import math

import pytest
import torch
import torch.nn.functional as F
from torch.testing import assert_close

from hfdistill.losses import (
    IGNORE_INDEX,
    cosine_loss,
    distillation_loss,
    hidden_state_loss,
    kl_divergence_loss,
    mse_loss,
    soft_loss,
    teacher_pseudo_labels,
)

STUDENT = torch.tensor([[2.0, 0.0, -1.0], [0.5, 0.5, 1.0]])
TEACHER = torch.tensor([[1.0, 1.0, 0.0], [0.0, 2.0, -2.0]])
LABELS = torch.tensor([0, 2])


def _softmax(row, temperature):
    exps = [math.exp(x / temperature) for x in row]
    return [e / sum(exps) for e in exps]


def _kl_by_hand(student_row, teacher_row, temperature):
    p = _softmax(teacher_row, temperature)
    q = _softmax(student_row, temperature)
    return sum(pi * math.log(pi / qi) for pi, qi in zip(p, q))


def _ce_by_hand(student_row, label):
    return -math.log(_softmax(student_row, 1.0)[label])


def test_kl_one_example_literal_value():
    # softmax([0, 0]) = [0.5, 0.5]; softmax([ln 3, 0]) = [0.75, 0.25]
    # KL([0.5, 0.5] || [0.75, 0.25]) = 0.5 ln(0.5/0.75) + 0.5 ln(0.5/0.25) = 0.5 ln(4/3) = 0.143841...
    student = torch.tensor([[math.log(3.0), 0.0]])
    teacher = torch.tensor([[0.0, 0.0]])
    assert_close(kl_divergence_loss(student, teacher, temperature=1.0), torch.tensor(0.5 * math.log(4 / 3)))


@pytest.mark.parametrize("temperature", [1.0, 2.0])
def test_kl_matches_hand_computation_with_t_squared_and_batchmean(temperature):
    per_example = [_kl_by_hand(s, t, temperature) for s, t in zip(STUDENT.tolist(), TEACHER.tolist())]
    expected = temperature**2 * sum(per_example) / len(per_example)
    assert_close(kl_divergence_loss(STUDENT, TEACHER, temperature), torch.tensor(expected, dtype=torch.float32))
    assert_close(
        kl_divergence_loss(STUDENT, TEACHER, temperature, reduction="none"),
        torch.tensor([temperature**2 * v for v in per_example]),
    )


@pytest.mark.filterwarnings("ignore:reduction. .mean. divides")
def test_kl_reduction_is_batchmean_not_elementwise_mean():
    loss = kl_divergence_loss(STUDENT, TEACHER, temperature=1.0)
    elementwise_mean = F.kl_div(F.log_softmax(STUDENT, -1), F.softmax(TEACHER, -1), reduction="mean")
    batchmean = F.kl_div(F.log_softmax(STUDENT, -1), F.softmax(TEACHER, -1), reduction="batchmean")
    assert_close(loss, batchmean)
    assert not torch.allclose(loss, elementwise_mean)  # "mean" would divide by N * C = 6 instead of N = 2
    assert_close(loss, elementwise_mean * STUDENT.shape[1])


def test_mse_and_cosine_by_hand():
    squared = [sum((a - b) ** 2 for a, b in zip(s, t)) for s, t in zip(STUDENT.tolist(), TEACHER.tolist())]
    assert_close(mse_loss(STUDENT, TEACHER), torch.tensor(sum(squared) / 2))

    def cos(u, v):
        dot = sum(a * b for a, b in zip(u, v))
        return dot / math.sqrt(sum(a * a for a in u) * sum(b * b for b in v))

    one_minus_cos = [1 - cos(s, t) for s, t in zip(STUDENT.tolist(), TEACHER.tolist())]
    assert_close(cosine_loss(STUDENT, TEACHER), torch.tensor(sum(one_minus_cos) / 2))
    assert_close(mse_loss(STUDENT, TEACHER, reduction="sum"), torch.tensor(sum(squared)))


@pytest.mark.parametrize("loss_type", ["kl", "mse", "cosine"])
def test_soft_loss_is_zero_when_student_equals_teacher(loss_type):
    assert_close(soft_loss(TEACHER.clone(), TEACHER, loss_type, temperature=2.0), torch.tensor(0.0), atol=1e-6, rtol=0)


@pytest.mark.parametrize("temperature", [1.0, 2.0])
@pytest.mark.parametrize("alpha", [0.0, 0.3, 1.0])
def test_distillation_loss_combines_soft_and_hard_terms(alpha, temperature):
    soft = sum(temperature**2 * _kl_by_hand(s, t, temperature) for s, t in zip(STUDENT.tolist(), TEACHER.tolist())) / 2
    hard = sum(_ce_by_hand(s, y) for s, y in zip(STUDENT.tolist(), LABELS.tolist())) / 2
    output = distillation_loss(STUDENT, TEACHER, LABELS, alpha=alpha, temperature=temperature)
    assert_close(output.loss, torch.tensor(alpha * soft + (1 - alpha) * hard, dtype=torch.float32))
    assert_close(output.soft_loss, torch.tensor(soft, dtype=torch.float32))
    assert_close(output.hard_loss, torch.tensor(hard, dtype=torch.float32))


@pytest.mark.parametrize("loss_type", ["mse", "cosine"])
def test_mse_and_cosine_replace_t2_kl_without_t2(loss_type):
    output = distillation_loss(STUDENT, TEACHER, LABELS, alpha=0.3, temperature=4.0, loss_type=loss_type)
    hard = F.cross_entropy(STUDENT, LABELS)
    assert_close(output.loss, 0.3 * soft_loss(STUDENT, TEACHER, loss_type) + 0.7 * hard)


def test_without_labels_the_loss_is_the_soft_term_alone():
    output = distillation_loss(STUDENT, TEACHER, None, alpha=0.3, temperature=2.0)
    assert_close(output.loss, kl_divergence_loss(STUDENT, TEACHER, 2.0))
    assert output.hard_loss is None


def test_unlabeled_rows_in_a_mixed_batch_carry_the_soft_term_alone():
    labels = torch.tensor([1, IGNORE_INDEX])
    soft = kl_divergence_loss(STUDENT, TEACHER, 2.0, reduction="none")
    hard_first = _ce_by_hand(STUDENT[0].tolist(), 1)
    output = distillation_loss(STUDENT, TEACHER, labels, alpha=0.3, temperature=2.0)
    expected = (0.3 * soft[0] + 0.7 * hard_first + soft[1]) / 2
    assert_close(output.loss, expected)
    assert_close(output.hard_loss, torch.tensor(hard_first, dtype=torch.float32))


def test_pseudo_labels_are_the_teachers_argmax_where_it_is_confident_enough():
    # Teacher rows: [1, 1, 0] -> argmax 0 (first of a tie) with p = e / (2e + 1) = 0.422;
    # [0, 2, -2] -> 1 with p = 0.867.
    labels, pseudo = teacher_pseudo_labels(TEACHER, torch.tensor([IGNORE_INDEX, IGNORE_INDEX]), threshold=0.5)
    assert labels.tolist() == [IGNORE_INDEX, 1] and pseudo.tolist() == [False, True]
    labels, pseudo = teacher_pseudo_labels(TEACHER, None, threshold=0.0)
    assert labels.tolist() == [0, 1] and pseudo.tolist() == [True, True]
    labels, pseudo = teacher_pseudo_labels(TEACHER, torch.tensor([2, IGNORE_INDEX]), threshold=0.9)
    assert labels.tolist() == [2, IGNORE_INDEX] and pseudo.tolist() == [False, False]  # gold labels are never replaced


def test_pseudo_label_modes_by_hand():
    unlabeled = torch.tensor([IGNORE_INDEX, IGNORE_INDEX])
    soft = kl_divergence_loss(STUDENT, TEACHER, 2.0, reduction="none")
    ce_second = _ce_by_hand(STUDENT[1].tolist(), 1)  # the teacher's argmax on row 1; row 0 (p = 0.422) is below 0.5
    hard = distillation_loss(STUDENT, TEACHER, unlabeled, alpha=0.3, temperature=2.0, pseudo_labels="hard",
                             pseudo_label_threshold=0.5)
    assert_close(hard.loss, torch.tensor(ce_second / 2, dtype=torch.float32))  # row 0 is left out, row 1 is CE alone
    both = distillation_loss(STUDENT, TEACHER, unlabeled, alpha=0.3, temperature=2.0, pseudo_labels="both",
                             pseudo_label_threshold=0.5)
    assert_close(both.loss, (soft[0] + 0.3 * soft[1] + 0.7 * ce_second) / 2)  # row 0 keeps the soft term
    assert both.labeled.tolist() == [False, True] and both.pseudo_labeled.tolist() == [False, True]
    # A gold-labeled row is trained as without pseudo-labels, in every mode.
    gold = torch.tensor([2, IGNORE_INDEX])
    mixed = distillation_loss(STUDENT, TEACHER, gold, alpha=0.3, temperature=2.0, pseudo_labels="hard")
    assert_close(mixed.loss, (0.3 * soft[0] + 0.7 * _ce_by_hand(STUDENT[0].tolist(), 2) + ce_second) / 2)
    none = distillation_loss(STUDENT, TEACHER, unlabeled, alpha=0.3, temperature=2.0)
    assert_close(none.loss, soft.mean())


def test_num_items_divides_the_sum_so_micro_batches_add_up_to_the_full_batch():
    full = distillation_loss(STUDENT, TEACHER, LABELS, alpha=0.5, temperature=2.0).loss
    halves = [
        distillation_loss(STUDENT[i : i + 1], TEACHER[i : i + 1], LABELS[i : i + 1], alpha=0.5, temperature=2.0,
                          num_items=2).loss
        for i in range(2)
    ]
    assert_close(halves[0] + halves[1], full)


def test_bad_shapes_and_names_raise_clear_errors():
    with pytest.raises(ValueError, match="same classes"):
        kl_divergence_loss(STUDENT, TEACHER[:, :2])
    with pytest.raises(ValueError, match="loss_type must be one of"):
        soft_loss(STUDENT, TEACHER, "hinge")
    with pytest.raises(ValueError, match="labels must have shape"):
        distillation_loss(STUDENT, TEACHER, LABELS[:1])


def test_hidden_state_loss_by_hand_averages_over_each_examples_real_tokens():
    # Example 0: two real tokens and one padding token (whose huge difference must not count); example 1: one token.
    student = torch.tensor([[[1.0, 0.0], [0.0, 2.0], [9.0, 9.0]], [[3.0, 4.0], [0.0, 0.0], [0.0, 0.0]]])
    teacher = torch.tensor([[[1.0, 1.0], [0.0, -1.0], [0.0, 0.0]], [[3.0, 4.0], [1.0, 1.0], [1.0, 1.0]]])
    mask = torch.tensor([[1, 1, 0], [1, 0, 0]])
    # mse per token = mean over H: (0 + 1) / 2 = 0.5 and (0 + 9) / 2 = 4.5 -> 2.5; example 1: 0.
    assert_close(hidden_state_loss(student, teacher, mask, reduction="none"), torch.tensor([2.5, 0.0]))
    assert_close(hidden_state_loss(student, teacher, mask), torch.tensor(1.25))  # batchmean over examples
    # cosine per token: 1 - 1/sqrt(2) and 1 - (-1) = 2 -> their mean; example 1: identical vectors, 0.
    expected_cosine = torch.tensor([(1 - 1 / math.sqrt(2) + 2) / 2, 0.0])
    assert_close(hidden_state_loss(student, teacher, mask, "cosine", reduction="none"), expected_cosine)
    # Without a mask every position counts.
    assert_close(hidden_state_loss(student[:1], teacher[:1], reduction="sum"), torch.tensor((0.5 + 4.5 + 81.0) / 3))


def test_hidden_state_loss_refuses_different_widths_and_unknown_distances():
    with pytest.raises(ValueError, match="same hidden size"):
        hidden_state_loss(torch.zeros(2, 3, 4), torch.zeros(2, 3, 8))
    with pytest.raises(ValueError, match="loss_type must be one of"):
        hidden_state_loss(torch.zeros(2, 3, 4), torch.zeros(2, 3, 4), loss_type="l1")


# ---- task shapes: multi-label and regression (issue 17) ----------------------------------------------


def _sigmoid(x):
    return 1 / (1 + math.exp(-x))


def _binary_kl_by_hand(student_row, teacher_row, temperature):
    total = 0.0
    for s, t in zip(student_row, teacher_row):
        p, q = _sigmoid(t / temperature), _sigmoid(s / temperature)
        total += p * math.log(p / q) + (1 - p) * math.log((1 - p) / (1 - q))
    return temperature**2 * total / len(student_row)


@pytest.mark.parametrize("temperature", [1.0, 2.0])
def test_multi_label_soft_term_is_the_per_label_binary_kl_times_t_squared(temperature):
    from hfdistill.losses import MULTI_LABEL, binary_kl_loss

    expected = [_binary_kl_by_hand(s, t, temperature) for s, t in zip(STUDENT.tolist(), TEACHER.tolist())]
    assert_close(binary_kl_loss(STUDENT, TEACHER, temperature, reduction="none"), torch.tensor(expected))
    assert_close(soft_loss(STUDENT, TEACHER, "kl", temperature, "batchmean", MULTI_LABEL),
                 torch.tensor(sum(expected) / 2, dtype=torch.float32))
    assert_close(binary_kl_loss(TEACHER.clone(), TEACHER, temperature), torch.tensor(0.0), atol=1e-6, rtol=0)


def test_multi_label_objective_by_hand_with_bce_against_the_gold_vector():
    from hfdistill.losses import MULTI_LABEL

    labels = torch.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0]])
    output = distillation_loss(STUDENT, TEACHER, labels, alpha=0.4, temperature=2.0, problem_type=MULTI_LABEL)
    soft = [_binary_kl_by_hand(s, t, 2.0) for s, t in zip(STUDENT.tolist(), TEACHER.tolist())]
    bce = [sum(-(y * math.log(_sigmoid(s)) + (1 - y) * math.log(1 - _sigmoid(s))) for s, y in zip(srow, yrow)) / 3
           for srow, yrow in zip(STUDENT.tolist(), labels.tolist())]
    expected = sum(0.4 * a + 0.6 * b for a, b in zip(soft, bce)) / 2
    assert_close(output.loss, torch.tensor(expected, dtype=torch.float32))
    assert output.labeled.tolist() == [True, True]


def test_regression_objective_by_hand_has_no_temperature():
    from hfdistill.losses import REGRESSION

    student, teacher, scores = (torch.tensor([[1.0], [3.0]]), torch.tensor([[2.0], [2.5]]),
                                torch.tensor([1.5, IGNORE_INDEX]))
    for temperature in (1.0, 4.0):
        output = distillation_loss(student, teacher, scores, alpha=0.3, temperature=temperature,
                                   problem_type=REGRESSION)
        # row 0: 0.3 * (1 - 2)^2 + 0.7 * (1 - 1.5)^2 = 0.475; row 1, unlabeled: (3 - 2.5)^2 = 0.25
        assert_close(output.loss, torch.tensor((0.475 + 0.25) / 2))
    assert_close(soft_loss(teacher.clone(), teacher, "kl", 2.0, "batchmean", REGRESSION), torch.tensor(0.0))
    with pytest.raises(ValueError, match="pseudo_labels='hard' needs classes, and a regression teacher has none"):
        distillation_loss(student, teacher, scores, pseudo_labels="hard", problem_type=REGRESSION)
    with pytest.raises(ValueError, match="'cosine' is not defined for regression; use one of kl, mse"):
        distillation_loss(student, teacher, scores, loss_type="cosine", problem_type=REGRESSION)


def test_multi_label_pseudo_labels_threshold_each_label():
    from hfdistill.losses import MULTI_LABEL, multi_label_pseudo_labels

    teacher = torch.tensor([[3.0, -3.0, 0.1], [0.0, 0.0, 0.0]])  # sigmoid: 0.95, 0.05, 0.52 / 0.5, 0.5, 0.5
    gold = torch.tensor([[float(IGNORE_INDEX)] * 3, [1.0, 0.0, 1.0]])
    labels, pseudo = multi_label_pseudo_labels(teacher, gold, threshold=0.9)
    assert labels.tolist() == [[1.0, 0.0, IGNORE_INDEX], [1.0, 0.0, 1.0]] and pseudo.tolist() == [True, False]
    student = torch.zeros(2, 3)
    output = distillation_loss(student, teacher, gold, alpha=0.5, pseudo_labels="hard", pseudo_label_threshold=0.9,
                               problem_type=MULTI_LABEL)
    # Row 0: its two confident labels, BCE of logit 0 = ln 2 each, over 3 labels, weight 1; row 1: gold.
    row0 = 2 * math.log(2) / 3
    row1 = 0.5 * _binary_kl_by_hand([0, 0, 0], [0, 0, 0], 2.0) + 0.5 * math.log(2)
    assert_close(output.loss, torch.tensor((row0 + row1) / 2))


def test_problem_type_of_reads_transformers_conventions():
    from transformers import BertConfig

    from hfdistill.losses import problem_type_of

    assert problem_type_of(BertConfig(num_labels=1)) == "regression"
    assert problem_type_of(BertConfig(num_labels=3)) == "single_label_classification"
    assert (problem_type_of(BertConfig(num_labels=3, problem_type="multi_label_classification"))
            == "multi_label_classification")


# ---- across widths: MiniLMv2's self-attention relations, TinyBERT's projection ------------------------------


def test_attention_relation_loss_by_hand():
    import math

    from hfdistill.losses import attention_relation_loss

    # One relation head, two tokens. The student's states are zeros: every relation row is uniform, (1/2, 1/2). The
    # teacher's query row 0 scores (a^2, 0) against the two keys, so its relation is (p, 1 - p), p = sigmoid(a^2);
    # its row 1 scores (0, 0): uniform, KL 0. KL(row 0) = p log 2p + (1 - p) log 2(1 - p).
    a = 1.5
    teacher_states = torch.tensor([[[a], [0.0]]])
    student = {name: torch.zeros(1, 2, 4) for name in ("query", "key", "value")}
    teacher = {name: teacher_states for name in ("query", "key", "value")}
    p = 1 / (1 + math.exp(-a * a))
    row0 = p * math.log(2 * p) + (1 - p) * math.log(2 * (1 - p))
    expected = 3 * (row0 + 0.0) / 2  # Q, K and V alike, averaged over the two query tokens
    # The student's width (4) differs from the teacher's (1): relations are L x L, so the widths need not match.
    assert_close(attention_relation_loss(student, teacher, num_relation_heads=1), torch.tensor(expected))
    # A padding key is left out of the softmax, and a padding query out of the mean: with token 1 masked, row 0
    # has one key, a certain relation on both sides, KL 0.
    masked = attention_relation_loss(student, teacher, 1, attention_mask=torch.tensor([[1, 0]]))
    assert_close(masked, torch.tensor(0.0))
    with pytest.raises(ValueError, match="does not split into 3 relation heads"):
        attention_relation_loss(student, teacher, num_relation_heads=3)


def test_hidden_state_projection_maps_a_narrower_student_to_the_teachers_width():
    from hfdistill.losses import HiddenStateProjection, hidden_state_loss

    projection = HiddenStateProjection(student_width=2, teacher_width=3, num_layers=1)
    with torch.no_grad():
        projection.maps[0].weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]))
        projection.maps[0].bias.zero_()
    student = torch.tensor([[[1.0, 2.0]]])
    teacher = torch.tensor([[[1.0, 2.0, 4.0]]])
    # W_h s = (1, 2, 3): squared differences (0, 0, 1), mean over the teacher's width 1/3.
    assert_close(hidden_state_loss(projection(0, student), teacher), torch.tensor(1 / 3))
    assert projection.maps[0].weight.requires_grad  # trained with the student
