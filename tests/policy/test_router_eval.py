import random

import pytest

from policy.router_eval import CurvePoint, apgr, cpt, evaluate, quality_curve

# Four prompts: the strong model fixes prompts 0 and 2, breaks prompt 3, ties on 1.
# weak mean 0.5, strong mean 0.75, gap 0.25.
WEAK = [0.0, 1.0, 0.0, 1.0]
STRONG = [1.0, 1.0, 1.0, 0.0]
PERFECT = [4.0, 2.0, 3.0, 1.0]  # the gains first, the loss last


def test_perfect_router_hand_computed() -> None:
    r = evaluate(PERFECT, WEAK, STRONG)
    assert (r.n, r.weak, r.strong) == (4, 0.5, 0.75)
    # order 0, 2, 1, 3: quality 0.5, 0.75, 1.0, 1.0, 0.75 at shares 0 .. 1 in quarters
    assert [(p.strong_share, p.quality) for p in r.curve] == [
        (0.0, 0.5),
        (0.25, 0.75),
        (0.5, 1.0),
        (0.75, 1.0),
        (1.0, 0.75),
    ]
    # AUC = 0.25 * (0.625 + 0.875 + 1.0 + 0.875) = 0.84375; (0.84375 - 0.5) / 0.25
    assert r.apgr == pytest.approx(1.375)
    assert r.cpt50 == 0.25  # target 0.625
    assert r.cpt80 == 0.25  # target 0.70


def test_reversed_router_hand_computed() -> None:
    r = evaluate([-s for s in PERFECT], WEAK, STRONG)
    # order 3, 1, 2, 0: quality 0.5, 0.25, 0.25, 0.5, 0.75
    assert [p.quality for p in r.curve] == [0.5, 0.25, 0.25, 0.5, 0.75]
    # AUC = 0.25 * (0.375 + 0.25 + 0.375 + 0.625) = 0.40625
    assert r.apgr == pytest.approx(-0.375)
    assert r.cpt50 == 1.0
    assert r.cpt80 == 1.0


def test_reversing_any_router_mirrors_its_apgr() -> None:
    rng = random.Random(7)
    weak = [float(rng.random() < 0.6) for _ in range(300)]
    strong = [float(rng.random() < 0.8) for _ in range(300)]
    scores = [float(rng.randint(0, 20)) for _ in range(300)]  # many ties
    forward = evaluate(scores, weak, strong).apgr
    backward = evaluate([-s for s in scores], weak, strong).apgr
    assert forward + backward == pytest.approx(1.0)


def test_random_router_over_many_prompts_is_about_half() -> None:
    rng = random.Random(2024)
    n = 5000
    weak = [float(rng.random() < 0.65) for _ in range(n)]
    strong = [float(rng.random() < 0.85) for _ in range(n)]
    values = [evaluate([rng.random() for _ in range(n)], weak, strong).apgr for _ in range(5)]
    assert sum(values) / len(values) == pytest.approx(0.5, abs=0.05)
    # and a random router needs about x of the strong calls to close x of the gap
    r = evaluate([rng.random() for _ in range(n)], weak, strong)
    assert r.cpt50 == pytest.approx(0.5, abs=0.1)
    assert r.cpt80 == pytest.approx(0.8, abs=0.1)


def test_constant_score_is_the_straight_line() -> None:
    r = evaluate([0.3] * 4, WEAK, STRONG)
    assert [(p.strong_share, p.quality) for p in r.curve] == [(0.0, 0.5), (1.0, 0.75)]
    assert r.apgr == 0.5
    assert r.cpt50 == 1.0  # no threshold sends only part of a tied group


def test_ties_move_together_and_order_does_not_matter() -> None:
    scores = [2.0, 1.0, 1.0, 2.0]  # prompt 0 (gain) tied with prompt 3 (loss)
    r = evaluate(scores, WEAK, STRONG)
    assert [(p.strong_share, p.quality) for p in r.curve] == [
        (0.0, 0.5),
        (0.5, 0.5),
        (1.0, 0.75),
    ]
    # AUC = 0.5 * 0.5 + 0.5 * 0.625 = 0.5625; (0.5625 - 0.5) / 0.25
    assert r.apgr == pytest.approx(0.25)
    perm = [3, 1, 0, 2]
    shuffled = evaluate(
        [scores[i] for i in perm], [WEAK[i] for i in perm], [STRONG[i] for i in perm]
    )
    assert shuffled == r


def test_judge_scores_work_like_correctness() -> None:
    # MT-bench style 1-10 scores: weak mean 7, strong mean 8.5
    weak = [8.0, 6.0, 7.0]
    strong = [8.0, 9.0, 8.5]
    r = evaluate([0.1, 0.9, 0.5], weak, strong)
    # order 1, 2, 0: quality 7, 8, 8.5, 8.5
    assert [p.quality for p in r.curve] == pytest.approx([7.0, 8.0, 8.5, 8.5])
    assert r.cpt50 == pytest.approx(1 / 3)  # target 7.75
    assert r.cpt80 == pytest.approx(2 / 3)  # target 8.2


def test_cpt_counts_a_point_exactly_on_the_target() -> None:
    curve = [CurvePoint(0.0, 0.1), CurvePoint(0.5, 0.1 + 0.7 * 0.2), CurvePoint(1.0, 0.3)]
    assert cpt(curve, 0.7) == 0.5


def test_bad_input_names_the_field() -> None:
    with pytest.raises(ValueError, match="lengths differ"):
        evaluate([0.1, 0.2], [1.0], [1.0, 0.0])
    with pytest.raises(ValueError, match="scores"):
        evaluate([], [], [])
    with pytest.raises(ValueError, match=r"scores\[1\]"):
        evaluate([0.1, float("nan")], [0.0, 1.0], [1.0, 1.0])
    with pytest.raises(ValueError, match="x: must be within"):
        cpt(quality_curve([0.1], [0.0], [1.0]), 1.5)
    with pytest.raises(ValueError, match="APGR is undefined"):
        apgr(quality_curve([0.1, 0.2], [1.0, 0.0], [0.0, 1.0]))
