"""Every CRYCHIC loss term on cases whose value is worked out by hand (in the comments)."""

from __future__ import annotations

import math

import pytest
import torch

from crychic.losses import CrychicLoss, PrototypeRefinement, alignment_stats, attention_transfer_loss, info_nce

F64 = torch.float64


def _t(rows):
    return torch.tensor(rows, dtype=F64)


def _cross_entropy(scores, target, temperature):
    """Hand CE of one row of scores: log(sum_j exp(s_j / tau)) - s_target / tau."""
    return math.log(sum(math.exp(s / temperature) for s in scores)) - scores[target] / temperature


# ---------------------------------------------------------------- InfoNCE


@pytest.mark.parametrize("temperature", [0.07, 0.5, 1.0])
def test_info_nce_of_identical_orthogonal_pairs(temperature):
    # z_a = z_b = (e0, e1): cosine matrix = I, so each row's logits are (1/t, 0) with the 1/t on
    # target: CE = log(1 + e^{-1/t}) in both directions. Scaling rows (3x, 5x) must not matter.
    z_a = _t([[3.0, 0.0], [0.0, 5.0]])
    z_b = _t([[1.0, 0.0], [0.0, 2.0]])
    expected = math.log1p(math.exp(-1 / temperature))
    assert float(info_nce(z_a, z_b, temperature)) == pytest.approx(expected, abs=1e-9, rel=1e-6)


def test_info_nce_of_all_equal_embeddings_is_log_n():
    # Every cosine is 1: every logit equal, CE = log N whatever the temperature.
    z = torch.ones(4, 3, dtype=F64)
    assert float(info_nce(z, 2 * z, 0.1)) == pytest.approx(math.log(4), abs=1e-9)


def test_info_nce_averages_both_directions():
    # z_a = (e0, e1), z_b = (e0, e0), t = 0.5: cosines [[1, 1], [0, 0]].
    # a->b rows (1,1)/t and (0,0)/t: log 2 each. b->a rows are the columns, (1,0)/t with target 0:
    # log(1 + e^{-2}); (1,0)/t with target 1: log(1 + e^{2}). Loss = (log 2 + mean of those) / 2.
    z_a, z_b = _t([[1.0, 0.0], [0.0, 1.0]]), _t([[1.0, 0.0], [1.0, 0.0]])
    b_to_a = (math.log1p(math.exp(-2)) + math.log1p(math.exp(2))) / 2
    expected = (math.log(2) + b_to_a) / 2
    assert float(info_nce(z_a, z_b, 0.5)) == pytest.approx(expected, abs=1e-9)
    # Symmetric in its arguments.
    assert float(info_nce(z_b, z_a, 0.5)) == pytest.approx(expected, abs=1e-9)


def test_info_nce_gradients_and_shape_checks():
    z_a = torch.randn(5, 8, requires_grad=True)
    z_b = torch.randn(5, 8, requires_grad=True)
    info_nce(z_a, z_b, 0.1).backward()
    assert z_a.grad.abs().sum() > 0 and z_b.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="one shape"):
        info_nce(torch.randn(5, 8), torch.randn(4, 8), 0.1)
    with pytest.raises(ValueError, match="temperature"):
        info_nce(torch.randn(5, 8), torch.randn(5, 8), 0.0)


# ---------------------------------------------------------------- alignment statistics


@pytest.mark.parametrize("chunk", [1, 4096])
def test_alignment_stats_on_hand_made_vectors(chunk):
    # a = ((1,0), (0,1)), b = ((1,0), (4,3) -> (0.8,0.6)). Cosines C[i][j] = a_i . b_j:
    #   [[1.0, 0.8],
    #    [0.0, 0.6]]
    # matched = (1 + 0.6)/2 = 0.8; mismatched = (0.8 + 0)/2 = 0.4; gap = 0.4.
    # a->b: row 0 peaks at 0 (hit), row 1 at 1 (0.6 > 0): R@1 = 1.
    # b->a: column 0 peaks at 0 (hit), column 1 at row 0 (0.8 > 0.6, miss): R@1 = 0.5.
    stats = alignment_stats(torch.tensor([[1.0, 0.0], [0.0, 1.0]]), torch.tensor([[1.0, 0.0], [4.0, 3.0]]), chunk)
    assert stats["matched_cosine"] == pytest.approx(0.8, abs=1e-6)
    assert stats["mismatched_cosine"] == pytest.approx(0.4, abs=1e-6)
    assert stats["gap"] == pytest.approx(0.4, abs=1e-6)
    assert stats["r1_a_to_b"] == 1.0
    assert stats["r1_b_to_a"] == 0.5


def test_alignment_stats_chunked_matches_full_matrix():
    generator = torch.Generator().manual_seed(0)
    z_a, z_b = torch.randn(37, 6, generator=generator), torch.randn(37, 6, generator=generator)
    full, chunked = alignment_stats(z_a, z_b), alignment_stats(z_a, z_b, chunk=5)
    assert full == pytest.approx(chunked, abs=1e-9)
    # The closed-form mismatched mean equals the explicit off-diagonal mean.
    cosine = torch.nn.functional.normalize(z_a, dim=1) @ torch.nn.functional.normalize(z_b, dim=1).T
    off_diagonal = cosine[~torch.eye(37, dtype=torch.bool)]
    assert full["mismatched_cosine"] == pytest.approx(float(off_diagonal.mean()), abs=1e-6)
    with pytest.raises(ValueError, match="at least 2"):
        alignment_stats(z_a[:1], z_b[:1])


# ---------------------------------------------------------------- attention transfer


def test_attention_transfer_of_identical_maps_is_zero():
    maps = [torch.rand(2, 1, 4, 7, 7), torch.rand(2, 1, 4, 3, 3)]
    assert float(attention_transfer_loss(maps, [m.clone() for m in maps])) == pytest.approx(0.0, abs=1e-7)


def test_attention_transfer_of_one_hot_maps():
    # Stage 1 (1 x 1 x 2 x 2 x 2): frame 0 one-hot at (0,0) vs (1,1): ||e_0 - e_3||^2 = 2;
    # frame 1 the same one-hot on both sides: 0. Stage mean 1.
    # Stage 2 (1 x 1 x 1 x 3 x 3): 5 * one-hot vs 7 * uniform: unit vectors e_0 and (1/3) 1,
    # distance 2 - 2 * (1/3) = 4/3 (scale does not matter). Loss = (1 + 4/3) / 2 = 7/6.
    student_1, teacher_1 = torch.zeros(1, 1, 2, 2, 2, dtype=F64), torch.zeros(1, 1, 2, 2, 2, dtype=F64)
    student_1[0, 0, 0, 0, 0] = teacher_1[0, 0, 0, 1, 1] = 1.0
    student_1[0, 0, 1, 0, 1] = teacher_1[0, 0, 1, 0, 1] = 1.0
    student_2 = torch.zeros(1, 1, 1, 3, 3, dtype=F64)
    student_2[0, 0, 0, 1, 2] = 5.0
    teacher_2 = torch.full((1, 1, 1, 3, 3), 7.0, dtype=F64)
    assert float(attention_transfer_loss([student_1], [teacher_1])) == pytest.approx(1.0, abs=1e-9)
    assert float(attention_transfer_loss([student_2], [teacher_2])) == pytest.approx(4 / 3, abs=1e-9)
    loss = attention_transfer_loss([student_1, student_2], [teacher_1, teacher_2])
    assert float(loss) == pytest.approx(7 / 6, abs=1e-9)


def test_attention_transfer_detaches_teacher_and_checks_alignment():
    student = torch.rand(2, 1, 3, 4, 4, requires_grad=True)
    teacher = torch.rand(2, 1, 3, 4, 4, requires_grad=True)
    attention_transfer_loss([student], [teacher]).backward()
    assert student.grad is not None and student.grad.abs().sum() > 0
    assert teacher.grad is None
    with pytest.raises(ValueError, match="stage 1 are not aligned"):
        attention_transfer_loss([student, torch.rand(2, 1, 3, 4, 4)], [teacher, torch.rand(2, 1, 3, 2, 2)])
    with pytest.raises(ValueError, match="number of stages"):
        attention_transfer_loss([student], [teacher, teacher])


# ---------------------------------------------------------------- FR-Head prototype refinement


def test_prototypes_update_by_ema_from_confident_true_positives_only():
    refinement = PrototypeRefinement(num_classes=3, dim=2, momentum=0.9, confidence_threshold=0.6).double()
    initial = _t([[1.0, -1.0], [2.0, 2.0], [-3.0, 1.0]])
    refinement.prototypes.copy_(initial)
    embedding = _t([[1.0, 2.0], [3.0, 0.0], [0.0, 5.0], [7.0, 7.0]])
    labels = torch.tensor([0, 0, 1, 2])
    logits = _t(
        [
            [5.0, 0.0, 0.0],  # label 0, predicted 0, p = e^5/(e^5+2) = 0.987: TP
            [4.0, 0.0, 0.0],  # label 0, predicted 0, p = 0.965: TP
            [3.0, 0.0, 0.0],  # label 1, predicted 0: FN of 1 (and FP of 0), never updates
            [0.0, 0.5, 1.0],  # label 2, predicted 2 but p = e/(1+e^0.5+e) = 0.506 < 0.6: not confident
        ]
    )
    refinement.train()
    refinement(embedding, labels, logits)
    # Class 0: 0.9 * (1, -1) + 0.1 * mean((1,2), (3,0)) = (0.9, -0.9) + (0.2, 0.1) = (1.1, -0.8).
    expected = initial.clone()
    expected[0] = _t([1.1, -0.8])
    assert torch.allclose(refinement.prototypes, expected, atol=1e-12)
    # Evaluation mode never updates.
    refinement.eval()
    refinement(embedding * 10, labels, logits)
    assert torch.allclose(refinement.prototypes, expected, atol=1e-12)


def test_fr_head_without_fn_or_fp_is_the_plain_prototype_cross_entropy():
    # Zero prototypes; the batch's TPs set p0 along e0, p1 along e1 (the EMA only shrinks them);
    # class 2 is never seen and stays zero (cosine 0). Cosine rows: (1, 0, 0) and (0, 1, 0).
    # No FN, no FP: no calibration, both rows' CE = log(e^8 + 1 + 1) - 8 = log(1 + 2 e^{-8})
    # at tau = 0.125, and the FN and FP cross-entropies add: loss = 2 log(1 + 2 e^{-8}).
    refinement = PrototypeRefinement(num_classes=3, dim=2, temperature=0.125).double()
    embedding = _t([[2.0, 0.0], [0.0, 3.0]])
    loss = refinement(embedding, torch.tensor([0, 1]), _t([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]))
    assert float(loss) == pytest.approx(2 * math.log1p(2 * math.exp(-8)), abs=1e-9)
    assert torch.allclose(refinement.prototypes, _t([[0.2, 0.0], [0.0, 0.3], [0.0, 0.0]]), atol=1e-12)


def test_fr_head_calibrates_false_negatives_and_false_positives():
    # Prototypes p0 = e0, p1 = e1 (eval mode: no update), tau = alpha = 0.125.
    #   i0: z = (1,0), label 0, logits (2,0): TP.           w0 = alpha (1 - e^2/(e^2+1))
    #   i1: z = (0,1), label 0, logits (0,1): FN of class 0 and FP of class 1.  w1 = alpha (1 - 1/(1+e))
    #   i2: z = (1,1), label 1, logits (0,3): TP.           w2 = alpha (1 - e^3/(1+e^3))
    # fn_0 = z1 = (0,1) (class 1 has no FN); fp_1 = z1 = (0,1) (class 0 has no FP).
    # FN rows (true column adds w (cos(z, fn_c) - 1) when class c has FN):
    #   i0: (1 + w0 (0 - 1), 0); i1: (0 + w1 (1 - 1), 1) = (0, 1); i2: (1/sqrt2, 1/sqrt2).
    # FP rows (true column adds w (-cos(z, fp_c) - 1) when class c has FP):
    #   i0: (1, 0); i1: (0, 1); i2: (1/sqrt2, 1/sqrt2 + w2 (-1/sqrt2 - 1)).
    # Loss = mean over the 3 samples of CE(FN row) + CE(FP row).
    alpha = tau = 0.125
    w0 = alpha * (1 - math.exp(2) / (math.exp(2) + 1))
    w1 = alpha * (1 - 1 / (1 + math.e))
    w2 = alpha * (1 - math.exp(3) / (1 + math.exp(3)))
    r = 1 / math.sqrt(2)
    assert w1 > 0  # i1's own FN term is zero because it *is* fn_0, not because w1 vanishes
    expected = (
        _cross_entropy([1 - w0, 0], 0, tau)
        + _cross_entropy([0, 1], 0, tau)
        + _cross_entropy([r, r], 1, tau)
        + _cross_entropy([1, 0], 0, tau)
        + _cross_entropy([0, 1], 0, tau)
        + _cross_entropy([r, r + w2 * (-r - 1)], 1, tau)
    ) / 3
    refinement = PrototypeRefinement(num_classes=2, dim=2, temperature=tau, calibration_weight=alpha).double()
    refinement.prototypes.copy_(_t([[1.0, 0.0], [0.0, 1.0]]))
    refinement.eval()
    embedding = _t([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]).requires_grad_()
    logits = _t([[2.0, 0.0], [0.0, 1.0], [0.0, 3.0]]).requires_grad_()
    loss = refinement(embedding, torch.tensor([0, 0, 1]), logits)
    assert float(loss.detach()) == pytest.approx(expected, abs=1e-9)
    # The calibration makes it larger than the uncalibrated prototype loss (w > 0 penalties).
    uncalibrated = 2 * (
        _cross_entropy([1, 0], 0, tau) + _cross_entropy([0, 1], 0, tau) + _cross_entropy([r, r], 1, tau)
    ) / 3
    assert float(loss.detach()) > uncalibrated
    loss.backward()
    assert embedding.grad.abs().sum() > 0 and torch.isfinite(embedding.grad).all()
    assert logits.grad is None  # predictions and weights come from the logits without gradient


# ---------------------------------------------------------------- the total objective


def _outputs(generator, num_samples=4, num_classes=3, dim=8):
    def leaf(*shape):
        return torch.randn(*shape, generator=generator, dtype=F64).requires_grad_()

    return {
        "student_logits": leaf(num_samples, num_classes),
        "teacher_logits": leaf(num_samples, num_classes),
        "fused_logits": leaf(num_samples, num_classes),
        "z_student": leaf(num_samples, dim),
        "z_teacher": leaf(num_samples, dim),
        "student_attention": [leaf(num_samples, 1, 2, 4, 4).abs(), leaf(num_samples, 1, 2, 2, 2).abs()],
        "guidance_maps": [leaf(num_samples, 1, 2, 4, 4).abs(), leaf(num_samples, 1, 2, 2, 2).abs()],
    }


def test_crychic_loss_is_the_exact_weighted_sum():
    outputs = _outputs(torch.Generator().manual_seed(1))
    labels = torch.tensor([0, 1, 2, 1])
    criterion = CrychicLoss(
        attention_weight=0.5, contrastive_weight=0.3, temperature=0.1, fr_head_weight=0.2,
        num_classes=3, embed_dim=8, classify=("student", "teacher"),
    ).double()
    reference_refinement = PrototypeRefinement(3, 8).double()  # same (zero) start, same update
    total, terms = criterion(outputs, labels)

    with torch.no_grad():  # the manual sum, term by term
        ce_student = torch.nn.functional.cross_entropy(outputs["student_logits"], labels)
        ce_teacher = torch.nn.functional.cross_entropy(outputs["teacher_logits"], labels)
        attention = attention_transfer_loss(outputs["student_attention"], outputs["guidance_maps"])
        contrastive = info_nce(outputs["z_teacher"], outputs["z_student"], 0.1)
        fr_head = reference_refinement(outputs["z_student"], labels, outputs["student_logits"])
        manual = ce_student + ce_teacher + 0.5 * attention + 0.3 * contrastive + 0.2 * fr_head
    assert float(total.detach()) == pytest.approx(float(manual), abs=1e-9)
    assert terms == pytest.approx(
        {
            "ce_student": float(ce_student), "ce_teacher": float(ce_teacher), "attention": float(attention),
            "contrastive": float(contrastive), "fr_head": float(fr_head), "total": float(manual),
        },
        abs=1e-9,
    )
    assert torch.equal(criterion.prototype_refinement.prototypes, reference_refinement.prototypes)

    total.backward()
    for key in ("student_logits", "teacher_logits", "z_student", "z_teacher"):
        assert outputs[key].grad is not None and outputs[key].grad.abs().sum() > 0, key
    assert outputs["fused_logits"].grad is None  # not in `classify`


def test_crychic_loss_skips_zero_weight_terms():
    # Only the student's logits exist: the zero-weight terms must not even look for their inputs.
    logits = torch.randn(4, 3, requires_grad=True)
    labels = torch.tensor([0, 1, 2, 0])
    criterion = CrychicLoss(attention_weight=0.0, contrastive_weight=0.0, fr_head_weight=0.0)
    total, terms = criterion({"student_logits": logits}, labels)
    assert set(terms) == {"ce_student", "total"}
    expected = torch.nn.functional.cross_entropy(logits.detach(), labels)
    assert float(total.detach()) == pytest.approx(float(expected), abs=1e-6)
    assert criterion.prototype_refinement is None and len(criterion.state_dict()) == 0
    total.backward()
    assert logits.grad.abs().sum() > 0


def test_crychic_loss_reports_bad_inputs():
    labels = torch.tensor([0, 1, 2, 1])
    outputs = _outputs(torch.Generator().manual_seed(2))
    outputs["guidance_maps"] = [outputs["guidance_maps"][0], torch.rand(4, 1, 2, 3, 3, dtype=F64)]
    with pytest.raises(ValueError, match="not aligned"):
        CrychicLoss(attention_weight=1.0)(outputs, labels)
    with pytest.raises(KeyError, match="z_teacher"):
        CrychicLoss(contrastive_weight=1.0)({"student_logits": outputs["student_logits"]}, labels)
    with pytest.raises(ValueError, match="num_classes"):
        CrychicLoss(fr_head_weight=1.0)
    with pytest.raises(ValueError, match="classify"):
        CrychicLoss(classify=("rgb",))
    with pytest.raises(ValueError, match="nothing to optimise"):
        CrychicLoss(classify=())
