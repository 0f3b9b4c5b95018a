"""Hydra plugin shim for the ``ecopt`` sweeper; the implementation lives in :mod:`ecopt_lightning.sweeper`."""
