import math

import pytest
import torch
import torch.nn.functional as F

from helpers import blob_loaders, pattern_mnist_loaders, tiny_masked_mlp
from vietai_compress.distillation import (HintRegressor, best_bias_shift, captured_output, distillation_loss,
                                          errors_per_class, hint_loss, shift_class_bias_, soft_gradient_norm,
                                          soft_loss, soft_targets, teacher_logits, train_distilled, train_hints,
                                          with_teacher_logits)
from vietai_compress.training import evaluate
from vietai_compress.models import MLP, masked_layers
from vietai_compress.pruning import prune_by_std
from vietai_compress.recipe import TEACHER_DROPOUT, TEACHER_INPUT_DROPOUT
from vietai_compress.training import make_optimizer, train


def _logits(seed=0, batch=8, classes=10):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, classes, generator=g), torch.randint(0, classes, (batch,), generator=g)


def test_soft_targets_are_probabilities_that_soften_with_t():
    logits, _ = _logits()
    for T in (1.0, 4.0, 20.0):
        p = soft_targets(logits, T)
        assert torch.allclose(p.sum(1), torch.ones(8)) and torch.all(p > 0)
    assert soft_targets(logits, 20.0).max() < soft_targets(logits, 1.0).max()
    assert torch.allclose(soft_targets(logits, 1.0), F.softmax(logits, 1))


def test_alpha_zero_is_plain_cross_entropy():
    student, labels = _logits(1)
    teacher, _ = _logits(2)
    assert torch.equal(distillation_loss(student, teacher, labels, T=4.0, alpha=0.0), F.cross_entropy(student, labels))


def test_alpha_one_is_t_squared_times_kl():
    student, labels = _logits(1)
    teacher, _ = _logits(2)
    T = 3.0
    p = F.softmax(teacher / T, 1)
    kl = (p * (p.log() - F.log_softmax(student / T, 1))).sum(1).mean()
    assert torch.allclose(distillation_loss(student, teacher, labels, T, alpha=1.0), T * T * kl, atol=1e-6)


def test_the_soft_part_is_zero_when_student_and_teacher_agree():
    logits, labels = _logits()
    assert soft_loss(logits, logits.clone(), 5.0).abs() < 1e-6
    assert soft_loss(F.log_softmax(logits, 1), logits, 5.0).abs() < 1e-6  # log-probabilities work as logits


def _grad_norm(loss_of, student):
    student = student.clone().requires_grad_()
    loss_of(student).backward()
    return student.grad.norm().item()


def test_soft_gradient_norm_is_the_gradient_of_the_soft_loss():
    student, _ = _logits(1)
    teacher, _ = _logits(2)
    for T in (1.0, 7.0):
        assert soft_gradient_norm(student, teacher, T) == pytest.approx(
            _grad_norm(lambda s: soft_loss(s, teacher, T), student), rel=1e-6)
    assert not student.requires_grad


def test_gradients_scale_as_one_over_t_squared_and_the_t_squared_factor_undoes_it():
    student, labels = _logits(1)
    teacher, _ = _logits(2)
    student, teacher = student - student.mean(1, keepdim=True), teacher - teacher.mean(1, keepdim=True)
    kl_20 = _grad_norm(lambda s: soft_loss(s, teacher, 20.0), student)
    kl_40 = _grad_norm(lambda s: soft_loss(s, teacher, 40.0), student)
    assert kl_20 / kl_40 == pytest.approx(4.0, rel=0.02)  # (40 / 20)^2
    full_20 = _grad_norm(lambda s: distillation_loss(s, teacher, labels, 20.0, 1.0), student)
    full_40 = _grad_norm(lambda s: distillation_loss(s, teacher, labels, 40.0, 1.0), student)
    assert full_20 / full_40 == pytest.approx(1.0, rel=0.02)


@pytest.mark.parametrize("T, alpha, error, match", [(0.0, 0.5, ValueError, "T must"), (-1.0, 0.5, ValueError, "T must"),
                                                    (math.nan, 0.5, ValueError, "T must"), ("4", 0.5, TypeError, "T must"),
                                                    (4.0, -0.1, ValueError, "alpha must"),
                                                    (4.0, 1.5, ValueError, "alpha must"),
                                                    (4.0, math.nan, ValueError, "alpha must")])
def test_bad_temperature_and_alpha_are_refused(T, alpha, error, match):
    student, labels = _logits()
    with pytest.raises(error, match=match):
        distillation_loss(student, student, labels, T, alpha)


def test_shape_mismatches_are_refused():
    student, labels = _logits()
    with pytest.raises(ValueError, match="teacher_logits"):
        distillation_loss(student, student[:, :5], labels, 4.0, 0.5)
    with pytest.raises(ValueError, match="labels"):
        distillation_loss(student, student, labels[:3], 4.0, 0.5)


def test_train_distilled_learns_and_keeps_a_pruned_student_pruned():
    torch.manual_seed(0)
    train_loader, test_loader = blob_loaders()
    teacher = tiny_masked_mlp(seed=1)
    train(teacher, train_loader, make_optimizer(teacher, lr=0.01), 5, "cpu", progress=False)
    student = tiny_masked_mlp(seed=2)
    prune_by_std(student, 0.5)
    masks = {name: layer.mask.clone() for name, layer in masked_layers(student)}
    history = train_distilled(student, teacher, train_loader, make_optimizer(student, lr=0.01), 5, T=4.0,
                              alpha=0.7, device="cpu", progress=False, eval_loader=test_loader)
    assert len(history["loss"]) == 5 and history["loss"][-1] < history["loss"][0]
    assert history["eval_accuracy"][-1] > 90.0
    for name, layer in masked_layers(student):
        assert torch.equal(layer.mask, masks[name]) and torch.all(layer.weight[layer.mask == 0] == 0)
    assert not teacher.training  # the teacher is only evaluated


def test_hints_pull_the_student_layer_towards_the_teacher_layer():
    torch.manual_seed(0)
    train_loader, _ = pattern_mnist_loaders(n=256)
    teacher, student = MLP((64, 64)), MLP((16, 16))
    regressor = HintRegressor(16, 64)
    images, _ = next(iter(train_loader))

    def distance():
        with torch.no_grad(), captured_output(teacher.fc1) as t, captured_output(student.fc1) as s:
            teacher(images), student(images)
            return hint_loss(s["output"], t["output"], regressor).item()

    before = distance()
    optimizer = torch.optim.Adam([*student.parameters(), *regressor.parameters()], lr=1e-2)
    teacher_state = {k: v.clone() for k, v in teacher.state_dict().items()}
    history = train_hints(student, "fc1", teacher, "fc1", regressor, train_loader, optimizer, 20, "cpu",
                          progress=False)
    assert distance() < 0.5 * before and len(history["loss"]) == 20
    assert all(torch.equal(v, teacher_state[k]) for k, v in teacher.state_dict().items())
    with pytest.raises(ValueError, match="regressor"):
        hint_loss(torch.zeros(2, 16), torch.zeros(2, 32), regressor)


def test_mlp_and_hintons_teacher():
    from vietai_compress.models import hinton_teacher

    teacher = hinton_teacher()
    assert sum(p.numel() for p in teacher.parameters()) == 784 * 1200 + 1200 + 1200 * 1200 + 1200 + 1200 * 10 + 10
    assert (teacher.input_dropout.p, teacher.dropout.p) == (TEACHER_INPUT_DROPOUT, TEACHER_DROPOUT)
    assert hinton_teacher(0.5).dropout.p == 0.5  # Hinton et al. (2012)'s rate
    assert [name for name, _ in masked_layers(teacher)] == ["fc1", "fc2", "fc3"]
    x = torch.randn(4, 1, 28, 28)
    teacher.eval()
    assert torch.equal(teacher(x), teacher(x))  # no dropout in eval mode
    assert torch.allclose(teacher(x).exp().sum(1), torch.ones(4))
    assert MLP((30, 30))(x).shape == (4, 10)
    with pytest.raises(ValueError, match="dropout"):
        MLP((10,), dropout=1.0)
    with pytest.raises(TypeError, match="hidden"):
        MLP((10.5,))


def _trained_teacher():
    torch.manual_seed(0)
    train_loader, test_loader = blob_loaders()
    teacher = tiny_masked_mlp(seed=1)
    train(teacher, train_loader, make_optimizer(teacher, lr=0.01), 5, "cpu", progress=False)
    return teacher


def test_cached_teacher_logits_train_the_student_exactly_as_the_teacher_on_every_batch():
    teacher = _trained_teacher()
    runs = []
    for cached in (False, True):
        loader, _ = blob_loaders()  # a fresh loader: the same shuffling order in both runs
        if cached:
            loader = with_teacher_logits(loader, teacher)
        student = tiny_masked_mlp(seed=2)
        train_distilled(student, None if cached else teacher, loader, make_optimizer(student, lr=0.01), 3, T=4.0,
                        alpha=0.7, device="cpu", progress=False)
        runs.append(student.state_dict())
    assert all(torch.allclose(runs[0][k], runs[1][k], atol=1e-6) for k in runs[0])
    images, _, logits = next(iter(loader))
    teacher.eval()
    assert torch.allclose(logits, teacher(images), atol=1e-6) and logits.shape == (32, 3)


def test_teacher_logits_match_the_teacher_batch_by_batch_and_need_a_teacher_or_a_cache():
    teacher = _trained_teacher()
    loader, _ = blob_loaders()
    assert torch.allclose(teacher_logits(teacher, loader.images, batch_size=7), teacher(loader.images), atol=1e-6)
    with pytest.raises(ValueError, match="teacher"):
        train_distilled(tiny_masked_mlp(), None, loader, make_optimizer(tiny_masked_mlp()), 1, 4.0, 0.5, "cpu",
                        progress=False)


def test_errors_per_class_add_up_to_the_errors():
    teacher = _trained_teacher()
    _, test_loader = blob_loaders()
    shift_class_bias_(teacher, 0, -20.0)  # class 0 can no longer win
    errors = errors_per_class(teacher, test_loader, classes=3, device="cpu")
    result = evaluate(teacher, test_loader, "cpu")
    assert errors.sum().item() == result.total - result.correct
    assert errors[0].item() == 80  # every one of the 80 samples of class 0


def test_best_bias_shift_finds_the_correction_and_leaves_the_model_unchanged():
    teacher = _trained_teacher()
    _, test_loader = blob_loaders()
    shift_class_bias_(teacher, 0, -20.0)
    state = {k: v.clone() for k, v in teacher.state_dict().items()}
    delta, accuracies = best_bias_shift(teacher, 0, [0.0, 5.0, 20.0], test_loader, "cpu")
    assert delta == 20.0 and accuracies[2] > 95.0 > accuracies[0] and len(accuracies) == 3
    assert all(torch.equal(v, state[k]) for k, v in teacher.state_dict().items())
    with pytest.raises(ValueError, match="label"):
        shift_class_bias_(teacher, 3, 1.0)
    with pytest.raises(ValueError, match="deltas"):
        best_bias_shift(teacher, 0, [], test_loader, "cpu")


def test_the_teachers_dropout_is_the_one_the_script_chose_on_validation():
    from vietai_compress import measured

    recorded = measured.load("choose_teacher")
    assert recorded["mode"] == "full" and recorded["validation_images"] == 5000
    errors = {row["dropout"]: row["teacher_val_errors"] for row in recorded["runs"]}
    assert 0.5 in errors  # Hinton et al. (2012)'s rate is among the candidates
    assert min(errors, key=lambda d: (errors[d], -d)) == recorded["chosen"] == TEACHER_DROPOUT  # the rule, re-applied
