"""Backbones."""

from .mamba_backbone import MambaBackbone, convert_vmamba_state_dict

__all__ = ['MambaBackbone', 'convert_vmamba_state_dict']
