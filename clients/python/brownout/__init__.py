"""brownout: a client for brownoutd (fault sweeps of neural networks on
low-voltage memories) and, in brownout.torch, the export helper and the
paper's erasure regularizer. See docs/python.md."""
from .calibrate import Calibration, calibrated_pe
from .client import BrownoutError, Client, Job

__version__ = "0.4.0"
__all__ = ["Client", "Job", "BrownoutError", "calibrated_pe", "Calibration"]
