"""Image metrics: the Inception network, FID / IS math, and the FID reference statistics."""
