"""Hydra configs; packaged as ``genolewm.conf`` so an installed wheel finds them."""
