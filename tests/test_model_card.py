from hfdistill.hub import render_model_card


def test_hub_teacher_becomes_base_model_but_a_local_path_does_not(tmp_path):
    hub = render_model_card({"teacher": "bert-base-uncased", "student_kind": "layers"})
    local = render_model_card({"teacher": str(tmp_path), "student_kind": "layers"})
    assert "base_model: bert-base-uncased" in hub
    assert "base_model" not in local and str(tmp_path) in local  # named in the text, not as Hub metadata


def test_card_states_settings_results_and_how_to_load():
    results = {
        "eval_examples": 872,
        "teacher": {"accuracy": 0.9, "num_parameters": 22_000_000, "disk_size_mb": 86.7, "latency_ms_batch1": 10.0,
                    "throughput_batch32": 100.0, "num_threads": 2},
        "student": {"accuracy": 0.855, "num_parameters": 2_000_000, "disk_size_mb": 7.6, "latency_ms_batch1": 0.2,
                    "throughput_batch32": 5000.0, "num_threads": 2},
        "ratios": {"accuracy_kept": 0.95, "size": 11.0, "latency_speedup": 50.0, "throughput_speedup": 50.0},
    }
    card = render_model_card({"teacher": "bert-base-uncased", "student_kind": "linear", "temperature": 4.0,
                              "alpha": 0.7, "distillation_loss": "mse", "results": results,
                              "command": "accelerate launch recipes/sst2.py", "model_id": "me/student"})
    for expected in ("temperature T | 4.0", "alpha (soft-term weight) | 0.7", "soft loss | mse", "| teacher | 90.00% |",
                     "| student | 85.50% |", "Accuracy kept: **95.00%**", "50.00× higher throughput",
                     "accelerate launch recipes/sst2.py", 'model="me/student", trust_remote_code=True'):
        assert expected in card, expected


def test_card_states_the_transfer_set_when_the_teacher_labelled_more_than_the_labeled_rows():
    augmented = {"labeled": 67349, "unlabeled": 0, "augmented": 269396,
                 "augmentation": {"factor": 4, "p_mask": 0.1, "seed": 0}}
    card = render_model_card({"teacher": "t", "student_kind": "layers", "results": {"transfer_set": augmented}})
    assert "| transfer set | 67,349 labeled, 0 unlabeled, 269,396 augmented (labelled by the teacher alone) |" in card
    assert "| augmentation | factor 4, p_mask 0.1, seed 0 |" in card
    drawn = render_model_card({"teacher": "t", "student_kind": "layers", "results": {"transfer_set": {
        "labeled": 100, "unlabeled": 1000, "unlabeled_available": 564705, "augmented": 0}}})
    assert "| transfer set | 100 labeled, 1,000 unlabeled (drawn from 564,705), 0 augmented" in drawn
    plain = render_model_card({"teacher": "t", "student_kind": "layers",
                               "results": {"transfer_set": {"labeled": 100, "unlabeled": 0, "augmented": 0}}})
    assert "transfer set" not in plain


def test_card_states_the_objective_that_ran():
    from hfdistill.losses import get_loss, loss_names

    kl = render_model_card({"teacher": "t", "distillation_loss": "kl"})
    assert "per labeled example: `alpha * T^2 * KL(softmax(t/T) || softmax(s/T)) + (1 - alpha) * CE(s, y)`" in kl
    assert "per example without a label: `T^2 * KL(softmax(t/T) || softmax(s/T))`" in kl
    mse = render_model_card({"teacher": "t", "distillation_loss": "mse"})
    assert "per labeled example: `alpha * ||s - t||^2 + (1 - alpha) * CE(s, y)`" in mse
    assert "KL" not in mse and "T does not enter this soft term" in mse
    cosine = render_model_card({"teacher": "t", "distillation_loss": "cosine", "pseudo_labels": "hard"})
    assert "`alpha * (1 - cos(s, t)) + (1 - alpha) * CE(s, y)`" in cosine and "KL" not in cosine
    assert "per example without a label: `CE(s, argmax t) where the teacher is confident enough" in cosine
    for name in loss_names("soft", "single_label_classification"):  # every registered loss is stated as itself
        assert get_loss("soft", name).formula in render_model_card({"teacher": "t", "distillation_loss": name})


def test_card_usage_truncates_long_texts():
    assert "truncation=True)" in render_model_card({"teacher": "t", "student_kind": "layers"})
