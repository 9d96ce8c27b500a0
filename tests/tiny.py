"""Tiny config overrides shared by the tests (32 px maps, 8-channel networks)."""

TINY = [
    "data.size=32", "data.batch_size=4", "generator.base_channels=8", "generator.max_channels=32",
    "generator.latent_dim=16", "discriminator.base_channels=8", "discriminator.max_channels=32",
    "discriminator.num_down=3", "log_every=1", "sample_every=2", "ckpt_every=2", "tensorboard=false",
]
TINY_AUNET = ["data.size=32", "aunet.base_channels=8", "aunet.depth=3", "batch_size=8", "log_every=1"]
