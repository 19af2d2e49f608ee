"""The contract every function check shares, whichever week it belongs to.

Each check must refuse the course's reference (itself, behind ``functools.wraps``,
called from a plain wrapper, or tried first with a fallback to the student's own
code), must ask to replace a ``raise NotImplementedError()`` stub, and must name a
forgotten ``return``. The module-specific cases (pasted copies, locked helpers,
classes such as ``check_autoencoder``) stay in each week's own test file.
"""

from __future__ import annotations

import functools

import pytest

import course.autoencoders as ae_ref
import course.diffusion as diffusion_ref
import course.gan as gan_ref
import course.metrics as metrics_ref
import course.vae as vae_ref
import course.wgan as wgan_ref
from course.checks import autoencoders as AE
from course.checks import diffusion as DIFFUSION
from course.checks import gan as GAN
from course.checks import metrics as METRICS
from course.checks import vae as VAE
from course.checks import wgan as WGAN
from tests.test_check_autoencoders import (
    _attr_sum_over_count,
    _interp_loop,
    _loss_explicit,
    _noise_clamp_kwargs,
    _pca_eigh_float64,
)
from tests.test_check_diffusion import (
    _cos_abar,
    _ddim_tensors,
    _ddpm_via_posterior,
    _ge_mix,
    _lin_numpy,
    _qp_from_scratch,
    _qs_from_betas,
    _te_diffusers,
)
from tests.test_check_gan import _d_logsigmoid, _g_logsigmoid, _hinge_clamp, _ls_mse, _opt_where
from tests.test_check_metrics import _fid_scipy, _is_numpy, _stats_torch_cov
from tests.test_check_vae import (
    _bern_logsigmoid,
    _elbo_float64,
    _gauss_distribution,
    _kl_distributions,
    _repar_distribution,
)
from tests.test_check_wgan import (
    _clip_data,
    _critic_float64,
    _gen_neg_mean,
    _gp_linalg,
    _r1_ones,
    _w1_l1,
)

NOT_YOURS = "reference implementation, not your own"
REFERENCE_CALLED = "called the course's reference"
STUB = r"_stub raises NotImplementedError: replace `raise NotImplementedError\(\)`"
MISSING_RETURN = "Did you forget a `return`"

# (check, reference, a correct implementation of the student's own)
TRIPLES = [
    (AE.check_reconstruction_loss, ae_ref.reconstruction_loss, _loss_explicit),
    (AE.check_pca_baseline, ae_ref.pca_baseline, _pca_eigh_float64),
    (AE.check_add_noise, ae_ref.add_noise, _noise_clamp_kwargs),
    (AE.check_interpolate, ae_ref.interpolate, _interp_loop),
    (AE.check_attribute_vector, ae_ref.attribute_vector, _attr_sum_over_count),
    (VAE.check_reparameterize, vae_ref.reparameterize, _repar_distribution),
    (VAE.check_gaussian_kl, vae_ref.gaussian_kl, _kl_distributions),
    (VAE.check_bernoulli_log_likelihood, vae_ref.bernoulli_log_likelihood, _bern_logsigmoid),
    (VAE.check_gaussian_log_likelihood, vae_ref.gaussian_log_likelihood, _gauss_distribution),
    (VAE.check_elbo, vae_ref.elbo, _elbo_float64),
    (GAN.check_discriminator_loss, gan_ref.discriminator_loss, _d_logsigmoid),
    (GAN.check_generator_loss, gan_ref.generator_loss, _g_logsigmoid),
    (GAN.check_optimal_discriminator, gan_ref.optimal_discriminator, _opt_where),
    (GAN.check_lsgan_losses, gan_ref.lsgan_losses, _ls_mse),
    (GAN.check_hinge_losses, gan_ref.hinge_losses, _hinge_clamp),
    (WGAN.check_critic_loss, wgan_ref.critic_loss, _critic_float64),
    (WGAN.check_generator_loss, wgan_ref.generator_loss, _gen_neg_mean),
    (WGAN.check_clip_weights_, wgan_ref.clip_weights_, _clip_data),
    (WGAN.check_gradient_penalty, wgan_ref.gradient_penalty, _gp_linalg),
    (WGAN.check_wasserstein_1d, wgan_ref.wasserstein_1d, _w1_l1),
    (WGAN.check_r1_penalty, wgan_ref.r1_penalty, _r1_ones),
    (METRICS.check_feature_statistics, metrics_ref.feature_statistics, _stats_torch_cov),
    (METRICS.check_frechet_distance, metrics_ref.frechet_distance, _fid_scipy),
    (METRICS.check_inception_score, metrics_ref.inception_score, _is_numpy),
    (DIFFUSION.check_linear_beta_schedule, diffusion_ref.linear_beta_schedule, _lin_numpy),
    (DIFFUSION.check_cosine_beta_schedule, diffusion_ref.cosine_beta_schedule, _cos_abar),
    (DIFFUSION.check_q_sample, diffusion_ref.q_sample, _qs_from_betas),
    (DIFFUSION.check_q_posterior, diffusion_ref.q_posterior, _qp_from_scratch),
    (DIFFUSION.check_ddpm_step, diffusion_ref.ddpm_step, _ddpm_via_posterior),
    (DIFFUSION.check_ddim_step, diffusion_ref.ddim_step, _ddim_tensors),
    (DIFFUSION.check_timestep_embedding, diffusion_ref.timestep_embedding, _te_diffusers),
    (DIFFUSION.check_guided_eps, diffusion_ref.guided_eps, _ge_mix),
]
# Module-qualified: gan and wgan both have a check_generator_loss.
IDS = [f"{check.__module__.rsplit('.', 1)[-1]}.{check.__name__}" for check, _, _ in TRIPLES]

NO_RETURN_MESSAGE = {WGAN.check_clip_weights_, AE.check_pca_baseline}

contract = pytest.mark.parametrize("check, reference, own", TRIPLES, ids=IDS)


@contract
def test_check_refuses_the_reference_itself(check, reference, own):
    with pytest.raises(AssertionError, match=NOT_YOURS):
        check(reference)


@contract
def test_check_refuses_a_functools_wraps_wrapper(check, reference, own):
    @functools.wraps(reference)
    def wrapper(*args, **kwargs):
        return reference(*args, **kwargs)

    with pytest.raises(AssertionError, match=NOT_YOURS):
        check(wrapper)


@contract
def test_check_says_the_wrapper_called_the_reference(check, reference, own):
    def wrapper(*args, **kwargs):
        return reference(*args, **kwargs)

    with pytest.raises(AssertionError, match=REFERENCE_CALLED):
        check(wrapper)


@contract
def test_check_refuses_a_fallback_after_a_swallowed_reference_call(check, reference, own):
    """A student who tries the reference and falls back to a correct version of their own."""

    def sneaky(*args, **kwargs):
        try:
            return reference(*args, **kwargs)
        except Exception:
            return own(*args, **kwargs)

    with pytest.raises(AssertionError, match=REFERENCE_CALLED):
        check(sneaky)


def _stub(*args, **kwargs):
    raise NotImplementedError()


@contract
def test_check_says_to_replace_the_stub(check, reference, own):
    with pytest.raises(AssertionError, match=STUB):
        check(_stub)


# clip_weights_ works in place and may return None; pca_baseline's check reports a
# None return its own way. Neither was ever held to the missing-`return` message.
RETURNING = [(t, i) for t, i in zip(TRIPLES, IDS, strict=True) if t[0] not in NO_RETURN_MESSAGE]


@pytest.mark.parametrize(
    "check, reference, own", [t for t, _ in RETURNING], ids=[i for _, i in RETURNING]
)
def test_check_names_a_missing_return(check, reference, own):
    def forgot_return(*args, **kwargs):
        _ = args

    with pytest.raises(AssertionError, match=MISSING_RETURN):
        check(forgot_return)
