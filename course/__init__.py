"""Deep generative models: tested references, data, plots, training helpers and checks.

Import the week's topic module (``course.vae``, ``course.gan`` ...) and its checks
(``course.checks.vae``). Importing ``course`` itself is cheap: no torchvision, no data.
"""

__version__ = "0.1.0"
