"""The whole chain, end to end, for every week: release -> submissions -> the course's
sandboxed autograder (and, for week 01, plain `nbgrader autograde`) -> scores.

A solution earns full marks on every autograded test, the untouched student notebook
earns zero, and one realistic wrong answer loses exactly that exercise's points.
"""

from __future__ import annotations

import json
import pathlib
import shutil

import nbformat
import pytest
from nbgrader.api import Gradebook

from grader.autograde import autograde
from grader.pipeline import available_weeks, nbgrader
from tests.nbtools import is_tests, nbgrader_meta, release_path, solution_path

pytestmark = pytest.mark.grading
WEEKS = available_weeks()

# Per week: one realistic mistake, planted into an otherwise perfect submission. Pick an
# answer no later tests cell depends on, so exactly one tests cell loses its points.
WRONG_ANSWERS = {
    "05_stylegan": {
        "grade_id": "truncate",
        "tests_id": "test_truncate",
        "source": (
            "def truncate(w, w_avg, psi=0.7):\n"
            "    return psi * w  # truncates towards zero instead of towards w_avg\n"
        ),
    },
    "08_diffusion": {
        "grade_id": "guided_eps",
        "tests_id": "test_guided_eps",
        "source": (
            "def guided_eps(eps_cond, eps_uncond, scale):\n"
            "    return eps_cond + scale * (eps_uncond - eps_cond)  # starts from the wrong end\n"
        ),
    },
    "03_gan": {
        "grade_id": "frechet_distance",
        "tests_id": "test_frechet_distance",
        "source": (
            "def frechet_distance(mu1, sigma1, mu2, sigma2):\n"
            "    mu1, sigma1, mu2, sigma2 = (torch.as_tensor(a).double().cpu()\n"
            "                                for a in (mu1, sigma1, mu2, sigma2))\n"
            "    diff = mu1 - mu2\n"
            "    covmean = (sigma1 @ sigma2).abs().sqrt()  # elementwise, not a matrix square root\n"
            "    return float(diff @ diff + sigma1.trace() + sigma2.trace() - 2 * covmean.trace())\n"
        ),
    },
    "07_flows": {
        "grade_id": "bits_per_dim",
        "tests_id": "test_bits_per_dim",
        "source": (
            "def bits_per_dim(log_prob, num_dims):\n"
            "    return -log_prob / num_dims  # nats per dim: the ln 2 is missing\n"
        ),
    },
    "06_cyclegan": {
        "grade_id": "receptive_field",
        "tests_id": "test_receptive_field",
        "source": (
            "def receptive_field(layers):\n"
            "    r, jump = 1, 1\n"
            "    for kernel, stride in layers:\n"
            "        jump *= stride  # updated too early: counts this layer's own stride\n"
            "        r += (kernel - 1) * jump\n"
            "    return r\n"
        ),
    },
    "02_vae": {
        "grade_id": "iwae_bound",
        "tests_id": "test_iwae_bound",
        "source": (
            "def iwae_bound(x, model, k, noise=None):\n"
            "    mu, logvar = model.encode(x)\n"
            "    if noise is None:\n"
            "        noise = torch.randn(k, *mu.shape, dtype=mu.dtype, device=mu.device)\n"
            "    z = mu + torch.exp(0.5 * logvar) * noise\n"
            "    logits = model.decode(z)\n"
            "    log_px_z = -F.binary_cross_entropy_with_logits(\n"
            "        logits, x.flatten(1).expand_as(logits), reduction='none').sum(-1)\n"
            "    log_pz = -0.5 * (z**2).sum(-1)\n"
            "    log_qz = -0.5 * (noise**2 + logvar).sum(-1)\n"
            "    return (log_px_z + log_pz - log_qz).mean(0)  # averages log-weights: the ELBO\n"
        ),
    },
    "04_wgan": {
        "grade_id": "hinge_losses",
        "tests_id": "test_hinge_losses",
        "source": (
            "def hinge_losses(real_logits, fake_logits):\n"
            "    d_loss = (1 - real_logits).mean() + (1 + fake_logits).mean()  # no relu: no margin\n"
            "    g_loss = -fake_logits.mean()\n"
            "    return d_loss, g_loss\n"
        ),
    },
    "01_autoencoders": {
        "grade_id": "interpolate",
        "tests_id": "test_interpolate",
        "source": (
            "def interpolate(z0, z1, steps):\n"
            "    a = torch.linspace(1.0, 0.0, steps)[:, None]  # runs backwards\n"
            "    return (1 - a) * z0 + a * z1\n"
        ),
    },
}


def _submit(root: pathlib.Path, week: str, student: str, nb: nbformat.NotebookNode) -> None:
    folder = root / "submitted" / student / week
    folder.mkdir(parents=True)
    nbformat.write(nb, folder / f"{week}.ipynb")


def _class(week: str, root: pathlib.Path) -> None:
    wrong = WRONG_ANSWERS[week]
    shutil.copytree(solution_path(week).parent, root / "solutions" / week)
    one_wrong = nbformat.read(solution_path(week), as_version=4)
    planted = 0
    for cell in one_wrong.cells:
        if nbgrader_meta(cell).get("grade_id") == wrong["grade_id"]:
            cell.source = wrong["source"]
            planted += 1
    assert planted == 1, f"{week}: no answer cell {wrong['grade_id']!r} to plant the mistake in"
    _submit(root, week, "perfect", nbformat.read(solution_path(week), as_version=4))
    _submit(root, week, "untouched", nbformat.read(release_path(week), as_version=4))
    _submit(root, week, "one_wrong", one_wrong)


def _points(week: str) -> dict[str, float]:
    solution = nbformat.read(solution_path(week), as_version=4)
    return {nbgrader_meta(c)["grade_id"]: nbgrader_meta(c)["points"] for c in solution.cells
            if is_tests(c)}


@pytest.fixture(scope="module", params=WEEKS)
def graded(request, tmp_path_factory):
    """Three submissions of one week, graded by the course's sandboxed autograder."""
    week = request.param
    root = tmp_path_factory.mktemp(f"course-{week}")
    _class(week, root)
    results = autograde(week, root, workers=1, log=lambda *a: None)
    scores = {r["student"]: {t["grade_id"]: t["score"] for t in r["tests"]} for r in results}
    log = json.dumps(results, indent=1)[:20000]
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:  # what formgrader will show
        for student, by_test in scores.items():
            for grade_id, value in by_test.items():
                assert gb.find_grade(grade_id, week, week, student).auto_score == value
    return week, _points(week), scores, log


def test_vanilla_nbgrader_agrees_on_week_01(tmp_path):
    """TAs who run plain `nbgrader autograde` with the course config get the same grades."""
    week = "01_autoencoders"
    root = tmp_path / "course"
    root.mkdir()
    _class(week, root)
    db = f"sqlite:///{root / 'gradebook.db'}"
    nbgrader("generate_assignment", week, "--force", root=root, db=db)
    log = nbgrader("autograde", week, "--force", root=root, db=db)
    points = _points(week)
    with Gradebook(db) as gb:
        scores = {s: {g: gb.find_grade(g, week, week, s).score for g in points}
                  for s in ("perfect", "untouched", "one_wrong")}
    assert scores["perfect"] == points, log
    assert scores["untouched"] == {g: 0 for g in points}
    assert scores["one_wrong"] == dict(points, **{WRONG_ANSWERS[week]["tests_id"]: 0})


def test_every_week_has_a_planted_mistake():
    assert "01_autoencoders" in WEEKS
    assert set(WEEKS) <= set(WRONG_ANSWERS), "add the week's realistic wrong answer above"


def test_week_is_graded(graded):
    week, points, _, _ = graded
    assert len(points) >= 5, f"{week}: fewer than 5 autograded exercises"
    assert sum(points.values()) >= 10


def test_solution_gets_full_marks(graded):
    _, points, scores, log = graded
    assert scores["perfect"] == points, log


def test_untouched_notebook_gets_zero(graded):
    _, points, scores, _ = graded
    assert scores["untouched"] == {grade_id: 0 for grade_id in points}


def test_one_wrong_answer_loses_exactly_its_points(graded):
    week, points, scores, _ = graded
    expected = dict(points, **{WRONG_ANSWERS[week]["tests_id"]: 0})
    assert scores["one_wrong"] == expected
