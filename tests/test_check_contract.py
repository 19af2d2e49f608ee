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
import course.cyclegan as cyclegan_ref
import course.diffusion as diffusion_ref
import course.flows as flows_ref
import course.gan as gan_ref
import course.metrics as metrics_ref
import course.stylegan as stylegan_ref
import course.vae as vae_ref
import course.wgan as wgan_ref
from course.checks import autoencoders as AE
from course.checks import cyclegan as CYCLEGAN
from course.checks import diffusion as DIFFUSION
from course.checks import flows as FLOWS
from course.checks import gan as GAN
from course.checks import metrics as METRICS
from course.checks import stylegan as STYLEGAN
from course.checks import vae as VAE
from course.checks import wgan as WGAN
from tests.test_check_autoencoders import (
    _attr_sum_over_count,
    _interp_loop,
    _loss_explicit,
    _noise_clamp_kwargs,
    _pca_eigh_float64,
)
from tests.test_check_cyclegan import (
    _cg_mse,
    _cycle_f_l1,
    _cycle_float64,
    _p2p_bce,
    _rf_backwards,
)
from tests.test_check_diffusion import (
    _cos_abar,
    _ddim_tensors,
    _ddpm_via_posterior,
    _dl_mse,
    _ge_mix,
    _lin_numpy,
    _qp_from_scratch,
    _qs_from_betas,
    _te_diffusers,
)
from tests.test_check_flows import (
    _bpd_log2,
    _cb_meshgrid,
    _cf_where,
    _ch_index,
    _ci_divide,
    _deq_int,
    _made_numpy,
)
from tests.test_check_gan import _d_logsigmoid, _g_logsigmoid, _hinge_clamp, _ls_mse, _opt_where
from tests.test_check_metrics import _fid_scipy, _is_numpy, _stats_torch_cov
from tests.test_check_stylegan import (
    _adain_torch,
    _in_group_norm,
    _mc_unfused,
    _mix_repeat_cat,
    _mw_stylegan2,
    _pl_lerp,
    _transfer_float64,
    _trunc_lerp,
)
from tests.test_check_vae import (
    _bern_logsigmoid,
    _elbo_float64,
    _gauss_distribution,
    _iwae_logsigmoid,
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
    (VAE.check_iwae_bound, vae_ref.iwae_bound, _iwae_logsigmoid),
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
    (CYCLEGAN.check_cycle_loss, cyclegan_ref.cycle_loss, _cycle_f_l1),
    (CYCLEGAN.check_identity_loss, cyclegan_ref.identity_loss, _cycle_float64),
    (CYCLEGAN.check_pix2pix_generator_loss, cyclegan_ref.pix2pix_generator_loss, _p2p_bce),
    (CYCLEGAN.check_cyclegan_generator_loss, cyclegan_ref.cyclegan_generator_loss, _cg_mse),
    (CYCLEGAN.check_receptive_field, cyclegan_ref.receptive_field, _rf_backwards),
    (FLOWS.check_checkerboard_mask, flows_ref.checkerboard_mask, _cb_meshgrid),
    (FLOWS.check_channel_mask, flows_ref.channel_mask, _ch_index),
    (FLOWS.check_coupling_forward, flows_ref.coupling_forward, _cf_where),
    (FLOWS.check_coupling_inverse, flows_ref.coupling_inverse, _ci_divide),
    (FLOWS.check_bits_per_dim, flows_ref.bits_per_dim, _bpd_log2),
    (FLOWS.check_dequantize, flows_ref.dequantize, _deq_int),
    (FLOWS.check_made_masks, flows_ref.made_masks, _made_numpy),
    (STYLEGAN.check_instance_norm, stylegan_ref.instance_norm, _in_group_norm),
    (STYLEGAN.check_adain, stylegan_ref.adain, _adain_torch),
    (STYLEGAN.check_adain_transfer, stylegan_ref.adain_transfer, _transfer_float64),
    (STYLEGAN.check_modulate_weights, stylegan_ref.modulate_weights, _mw_stylegan2),
    (STYLEGAN.check_modulated_conv2d, stylegan_ref.modulated_conv2d, _mc_unfused),
    (STYLEGAN.check_truncate, stylegan_ref.truncate, _trunc_lerp),
    (STYLEGAN.check_style_mix, stylegan_ref.style_mix, _mix_repeat_cat),
    (STYLEGAN.check_path_length_penalty, stylegan_ref.path_length_penalty, _pl_lerp),
    (DIFFUSION.check_diffusion_loss, diffusion_ref.diffusion_loss, _dl_mse),
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
